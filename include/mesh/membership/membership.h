// Membership: this node's bounded partial view of the network, as a state machine without I/O
// (HyParView, Leitão, Pereira and Rodrigues, DSN 2007).
//
// A node keeps a small symmetric *active* view (the peers it exchanges heartbeats with, asks for
// bids and relays through) and a larger *passive* view (addresses it knows, kept fresh by
// shuffles, from which a lost active peer is replaced). A joiner contacts any known node; the
// contact takes it into its active view and sends a ForwardJoin random walk through the network
// that puts the joiner in active and passive views along the way. Every `shuffle_every` a node
// sends a sample of both views on a random walk and merges what comes back into its passive
// view, so passive views stay a mix of the whole network. A peer is dead for this node when a
// message to it fails or it is silent for `dead_after`; a passive peer is then asked to fill the
// slot (NEIGHBOR, with high priority when the active view is empty). Per node, the traffic is
// O(active view) pings per `probe_every` plus one shuffle per `shuffle_every`: independent of N.
//
// One entry point: Step(now, input) → actions, like market::Market. No clock, no socket, no
// logger, no threads: time comes with each input, randomness from the injected Rng. meshd's
// shell and meshsim carry out the actions (sends, peer up/down, the timer).
//
// Not thread-safe: one caller at a time.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "mesh/common/rng.h"

namespace mesh::membership {

// A node's identity (its DID) as membership passes it around: immutable, with its hash taken
// once. Copies share one string (a reference count, no allocation); two ids are compared by hash,
// then by the shared string's address, and only then by their bytes. Membership copies and
// compares ids on every message: as heap strings, copying and comparing them was a fifth of a
// meshsim run (malloc, memmove, memcmp, each a cache miss). A shell that makes one PeerId per
// node and passes it on (meshsim) never compares bytes; one that parses ids off the wire (meshd)
// pays one allocation per parse.
class PeerId {
 public:
  PeerId() = default;
  PeerId(std::string_view id)  // NOLINT(google-explicit-constructor): ids are strings on the wire
      : id_(id.empty() ? nullptr : std::make_shared<const std::string>(id)),
        hash_(std::hash<std::string_view>{}(id)) {}
  PeerId(const std::string& id) : PeerId(std::string_view(id)) {}  // NOLINT
  PeerId(const char* id) : PeerId(std::string_view(id)) {}         // NOLINT

  const std::string& str() const { return id_ != nullptr ? *id_ : Empty(); }
  bool empty() const { return id_ == nullptr; }
  uint64_t hash() const { return hash_; }

  friend bool operator==(const PeerId& a, const PeerId& b) {
    return a.hash_ == b.hash_ && (a.id_ == b.id_ || a.str() == b.str());
  }
  // Against a plain string (a template, so that it is preferred to making a PeerId of it).
  template <class S>
  requires std::convertible_to<const S&, std::string_view> &&
      (!std::same_as<std::remove_cvref_t<S>, PeerId>)friend bool
      operator==(const PeerId& a, const S& b) {
    return a.str() == std::string_view(b);
  }
  friend std::ostream& operator<<(std::ostream& os, const PeerId& id) { return os << id.str(); }
  template <typename H>
  friend H AbslHashValue(H h, const PeerId& id) {
    return H::combine(std::move(h), id.hash_);
  }

 private:
  static const std::string& Empty() {
    static const std::string kEmpty;
    return kEmpty;
  }
  std::shared_ptr<const std::string> id_;  // null: the empty id
  uint64_t hash_ = std::hash<std::string_view>{}(std::string_view());
};

// A node as membership knows it: its identity (a DID) and where to reach it.
struct Contact {
  PeerId id;
  std::string address;
  friend bool operator==(const Contact&, const Contact&) = default;
};

struct MembershipOptions {
  size_t active_size = 5;    // HyParView: log10(N) + 1 covers 10^4 nodes
  size_t passive_size = 30;  // a few times active_size × the join walk
  int join_walk = 6;         // ARWL: hops a ForwardJoin walks
  int passive_walk = 3;      // PRWL: the hop at which a walked joiner enters the passive view
  absl::Duration probe_every = absl::Seconds(1);
  absl::Duration dead_after = absl::Seconds(5);  // an active peer silent this long is dead
  absl::Duration shuffle_every = absl::Seconds(10);
  size_t shuffle_active = 3;   // active peers in a shuffle's sample
  size_t shuffle_passive = 4;  // passive peers in a shuffle's sample
  int shuffle_walk = 4;        // hops a Shuffle walks
};
// InvalidArgument naming the option: sizes and durations must be > 0, the walks >= 1, the
// passive walk <= the join walk, and the samples no larger than the views they come from.
absl::Status Validate(const MembershipOptions& options);

// ---- Messages (the shell signs and carries them) ------------------------------------------

struct Join {};  // take me in (the sender is the joiner)
struct ForwardJoin {
  Contact joiner;
  int ttl = 0;
};
struct Neighbor {              // may I be in your active view?
  bool high_priority = false;  // the sender's active view is empty: accept it even when full
};
struct NeighborReply {
  bool accepted = false;
};
struct Disconnect {};  // the sender dropped the receiver from its active view (both stay alive)
struct Shuffle {
  Contact origin;
  int ttl = 0;
  std::vector<Contact> sample;
};
struct ShuffleReply {
  std::vector<Contact> sample;
};
// A heartbeat; the shell adds its own payload (capacity, load). `active` is the sender's active
// view: a receiver whose active view has room takes them as candidates (a small network becomes
// a full mesh at once instead of after shuffles). The shell may leave it empty when the receiver
// is full.
struct Ping {
  std::vector<Contact> active;
};

using Message = std::variant<Join, ForwardJoin, Neighbor, NeighborReply, Disconnect, Shuffle,
                             ShuffleReply, Ping>;
std::string_view MessageName(const Message& message);

// ---- Inputs ---------------------------------------------------------------------------------

struct Start {
  std::vector<Contact> contacts;  // any nodes of the network (a seed list); empty: the first
};
struct Received {
  Contact from;  // authenticated by the shell
  Message message;
};
struct SendFailed {  // a Send to this peer could not be delivered
  PeerId to;
};
struct TimerFired {};
struct Leave {};  // a graceful leave: the active peers are told
// Nodes the shell learnt of outside the protocol (a bootstrap address answered with its DID):
// candidates for the passive view; an active view with room asks one of them.
struct Discovered {
  std::vector<Contact> contacts;
};

using Input = std::variant<Start, Received, SendFailed, TimerFired, Leave, Discovered>;

// ---- Actions --------------------------------------------------------------------------------

struct Send {
  Contact to;
  Message message;
};
struct PeerUp {  // joined the active view
  Contact peer;
};
struct PeerDown {  // left the active view; `alive`: disconnected, not dead
  PeerId id;
  bool alive = false;
};
// The core's one timer: (re)arm it for `at`, replacing the one armed. Emitted when the time
// moved and after every TimerFired, not on every step.
struct SetTimer {
  absl::Time at;
};
using Action = std::variant<Send, PeerUp, PeerDown, SetTimer>;

struct MembershipStats {
  size_t active = 0, passive = 0;
  uint64_t joins_handled = 0, shuffles = 0, dead = 0, promotions = 0;
};

class Membership {
 public:
  Membership(MembershipOptions options, Contact self, Rng* rng);

  // The input is read, never kept: a shell may pass the same one again (meshsim keeps one per
  // sender for its heartbeats).
  std::vector<Action> Step(absl::Time now, const Input& input);

  const Contact& self() const { return self_; }
  std::vector<Contact> active() const;
  // The active view without a copy: active_count() peers, active_peer(0..count-1).
  size_t active_count() const { return active_.size(); }
  const Contact& active_peer(size_t i) const { return active_[i].contact; }
  const std::vector<Contact>& passive() const { return passive_; }
  bool IsActive(const PeerId& id) const { return FindActive(id) != nullptr; }
  // Nodes this node knows of (both views): a lower bound of the network's size.
  size_t known() const { return active_.size() + passive_.size(); }
  const MembershipStats& stats() const { return stats_; }

 private:
  struct ActivePeer {
    Contact contact;
    absl::Time heard;
  };

  void OnReceived(const Contact& from, const Message& message);
  void OnTick();
  // Marks an active peer heard now; the peer, or null when it is not active.
  const ActivePeer* Heard(const PeerId& id);

  // Views.
  const ActivePeer* FindActive(const PeerId& id) const;
  bool InPassive(const PeerId& id) const;
  // Adds to the active view (dropping a random peer with a Disconnect when full).
  void AddActive(const Contact& peer);
  // Removes from the active view; a live peer goes to the passive view.
  bool DropActive(const PeerId& id, bool alive);
  void AddPassive(const Contact& peer, const std::vector<Contact>& evict_first = {});
  void ErasePassive(const PeerId& id);
  // Asks a random passive peer to fill a free active slot (one request at a time).
  void Repair();
  std::vector<Contact> Sample(const std::vector<Contact>& from, size_t n, const PeerId& skip);
  const Contact* RandomActive(const PeerId& skip);

  void Emit(Action a) { out_.push_back(std::move(a)); }
  void SendTo(const Contact& to, Message message) { Emit(Send{to, std::move(message)}); }

  const MembershipOptions options_;
  const Contact self_;
  Rng* const rng_;
  absl::Time now_ = absl::InfinitePast();
  std::vector<ActivePeer> active_;  // small: vectors, in the order peers joined
  std::vector<Contact> passive_;
  std::optional<PeerId> asking_;  // the passive peer a Neighbor request waits for
  absl::Time asked_at_ = absl::InfinitePast();
  std::vector<Contact> last_shuffle_;  // what our last Shuffle sent (evicted first on its reply)
  absl::Time next_probe_ = absl::InfinitePast();
  absl::Time next_shuffle_ = absl::InfinitePast();
  absl::Time timer_ = absl::InfinitePast();  // the last SetTimer emitted
  bool started_ = false, left_ = false;
  MembershipStats stats_;
  std::vector<Action> out_;
};

}  // namespace mesh::membership
