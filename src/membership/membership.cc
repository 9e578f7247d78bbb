#include "mesh/membership/membership.h"

#include <algorithm>

#include "mesh/common/strings.h"

namespace mesh::membership {

absl::Status Validate(const MembershipOptions& o) {
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(mesh::StrCat("membership: ", what));
  };
  if (o.active_size == 0) return bad("active_size must be at least 1");
  if (o.passive_size == 0) return bad("passive_size must be at least 1");
  if (o.join_walk < 1) return bad("join_walk must be at least 1");
  if (o.passive_walk < 1 || o.passive_walk > o.join_walk) {
    return bad("passive_walk must be between 1 and join_walk");
  }
  if (o.shuffle_walk < 1) return bad("shuffle_walk must be at least 1");
  if (o.probe_every <= absl::ZeroDuration() || o.dead_after <= absl::ZeroDuration() ||
      o.shuffle_every <= absl::ZeroDuration()) {
    return bad("probe_every, dead_after and shuffle_every must be positive");
  }
  if (o.dead_after < o.probe_every) return bad("dead_after must be at least probe_every");
  if (o.shuffle_active > o.active_size) return bad("shuffle_active must be <= active_size");
  if (o.shuffle_passive > o.passive_size) return bad("shuffle_passive must be <= passive_size");
  return absl::OkStatus();
}

std::string_view MessageName(const Message& message) {
  static constexpr std::string_view kNames[] = {"join",           "forward_join", "neighbor",
                                                "neighbor_reply", "disconnect",   "shuffle",
                                                "shuffle_reply",  "ping"};
  return kNames[message.index()];
}

Membership::Membership(MembershipOptions options, Contact self, Rng* rng)
    : options_(std::move(options)), self_(std::move(self)), rng_(rng) {}

std::vector<Contact> Membership::active() const {
  std::vector<Contact> out;
  out.reserve(active_.size());
  for (const ActivePeer& p : active_) out.push_back(p.contact);
  return out;
}

std::vector<Action> Membership::Step(absl::Time now, const Input& input) {
  now_ = now;
  out_.clear();
  std::visit(
      [&](const auto& in) {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, Start>) {
          if (started_) return;
          started_ = true;
          for (const Contact& c : in.contacts) AddPassive(c);
          next_probe_ = now_ + options_.probe_every;
          // Spread the shuffles of nodes started together over one period.
          next_shuffle_ = now_ + options_.shuffle_every * (0.5 + 0.5 * rng_->UniformDouble());
          Repair();  // the empty active view asks a contact to take this node in (Join)
        } else if constexpr (std::is_same_v<T, Received>) {
          if (!started_ || left_ || in.from.id == self_.id) return;
          OnReceived(in.from, in.message);
        } else if constexpr (std::is_same_v<T, SendFailed>) {
          if (!started_ || left_) return;
          if (DropActive(in.to, /*alive=*/false)) ++stats_.dead;
          ErasePassive(in.to);
          if (asking_ == in.to) asking_.reset();
          Repair();
        } else if constexpr (std::is_same_v<T, TimerFired>) {
          if (started_ && !left_) OnTick();
        } else if constexpr (std::is_same_v<T, Leave>) {
          if (!started_ || left_) return;
          left_ = true;
          for (const ActivePeer& p : active_) SendTo(p.contact, Disconnect{});
          for (const ActivePeer& p : active_) Emit(PeerDown{p.contact.id, true});
          active_.clear();
        } else if constexpr (std::is_same_v<T, Discovered>) {
          if (!started_ || left_) return;
          for (const Contact& c : in.contacts) AddPassive(c);
          Repair();
        }
      },
      input);
  // The one timer, named when it moved (or fired: the shell has none armed then).
  if (started_ && !left_) {
    const absl::Time at = std::min(next_probe_, next_shuffle_);
    if (at != timer_ || std::holds_alternative<TimerFired>(input)) Emit(SetTimer{at});
    timer_ = at;
  }
  stats_.active = active_.size();
  stats_.passive = passive_.size();
  return std::move(out_);
}

const Membership::ActivePeer* Membership::Heard(const PeerId& id) {
  for (ActivePeer& p : active_) {
    if (p.contact.id == id) {
      p.heard = now_;
      return &p;
    }
  }
  return nullptr;
}

void Membership::OnReceived(const Contact& from, const Message& message) {
  const ActivePeer* const sender = Heard(from.id);  // null: not an active peer
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Join>) {
          ++stats_.joins_handled;
          AddActive(from);
          for (const ActivePeer& p : std::vector<ActivePeer>(active_)) {
            if (p.contact.id != from.id) {
              SendTo(p.contact, ForwardJoin{from, options_.join_walk});
            }
          }
        } else if constexpr (std::is_same_v<T, ForwardJoin>) {
          if (m.joiner.id == self_.id || m.joiner.id.empty()) return;
          // The walk ends here: the joiner becomes an active peer of this node too.
          auto take_joiner = [&] {
            if (FindActive(m.joiner.id) != nullptr) return;
            AddActive(m.joiner);
            SendTo(m.joiner, Neighbor{true});
          };
          if (m.ttl <= 0 || active_.size() <= 1) return take_joiner();
          if (m.ttl == options_.passive_walk) AddPassive(m.joiner);
          const PeerId& skip = from.id;
          std::vector<const ActivePeer*> next;
          for (const ActivePeer& p : active_) {
            if (p.contact.id != skip && p.contact.id != m.joiner.id) next.push_back(&p);
          }
          if (next.empty()) return take_joiner();
          SendTo(next[rng_->Uniform(next.size())]->contact, ForwardJoin{m.joiner, m.ttl - 1});
        } else if constexpr (std::is_same_v<T, Neighbor>) {
          const bool accept = FindActive(from.id) != nullptr || m.high_priority ||
                              active_.size() < options_.active_size;
          if (accept) {
            AddActive(from);
          } else {
            AddPassive(from);
          }
          SendTo(from, NeighborReply{accept});
        } else if constexpr (std::is_same_v<T, NeighborReply>) {
          if (asking_ == from.id) asking_.reset();
          if (m.accepted) {
            AddActive(from);
          } else {
            // Refused (full): it stays a candidate; a later repair asks another peer.
            DropActive(from.id, /*alive=*/true);
            AddPassive(from);
          }
        } else if constexpr (std::is_same_v<T, Disconnect>) {
          DropActive(from.id, /*alive=*/true);
        } else if constexpr (std::is_same_v<T, Shuffle>) {
          if (m.origin.id == self_.id) return;
          if (m.ttl > 1 && active_.size() > 1) {
            if (const Contact* next = RandomActive(from.id); next != nullptr) {
              SendTo(*next, Shuffle{m.origin, m.ttl - 1, m.sample});
              return;
            }
          }
          std::vector<Contact> reply = Sample(passive_, m.sample.size(), m.origin.id);
          SendTo(m.origin, ShuffleReply{reply});
          for (const Contact& c : m.sample) AddPassive(c, reply);
          AddPassive(m.origin, reply);
        } else if constexpr (std::is_same_v<T, ShuffleReply>) {
          for (const Contact& c : m.sample) AddPassive(c, last_shuffle_);
        } else if constexpr (std::is_same_v<T, Ping>) {
          // A peer that still counts us active when we do not (a Disconnect was lost, or the
          // views crossed): tell it again, unless we are asking it to be our neighbour.
          if (sender == nullptr && asking_ != from.id) {
            SendTo(from, Disconnect{});
            return;
          }
          if (active_.size() < options_.active_size && !m.active.empty()) {
            for (const Contact& c : m.active) AddPassive(c);
            Repair();
          }
        }
      },
      message);
}

void Membership::OnTick() {
  if (now_ >= next_probe_) {
    std::vector<PeerId> silent;
    for (const ActivePeer& p : active_) {
      if (now_ - p.heard > options_.dead_after) silent.push_back(p.contact.id);
    }
    for (const PeerId& id : silent) {
      DropActive(id, /*alive=*/false);
      ErasePassive(id);
      ++stats_.dead;
    }
    for (const ActivePeer& p : active_) SendTo(p.contact, Ping{});
    next_probe_ = now_ + options_.probe_every;
    if (asking_.has_value() && now_ - asked_at_ > options_.dead_after) asking_.reset();
    Repair();
  }
  if (now_ >= next_shuffle_) {
    next_shuffle_ = now_ + options_.shuffle_every;
    if (const Contact* to = RandomActive(PeerId()); to != nullptr) {
      std::vector<Contact> sample = {self_};
      for (const Contact& c : Sample(active(), options_.shuffle_active, to->id)) {
        sample.push_back(c);
      }
      for (const Contact& c : Sample(passive_, options_.shuffle_passive, PeerId())) {
        sample.push_back(c);
      }
      last_shuffle_ = sample;
      ++stats_.shuffles;
      SendTo(*to, Shuffle{self_, options_.shuffle_walk, std::move(sample)});
    }
  }
}

const Membership::ActivePeer* Membership::FindActive(const PeerId& id) const {
  for (const ActivePeer& p : active_) {
    if (p.contact.id == id) return &p;
  }
  return nullptr;
}

bool Membership::InPassive(const PeerId& id) const {
  return std::any_of(passive_.begin(), passive_.end(),
                     [&](const Contact& c) { return c.id == id; });
}

void Membership::AddActive(const Contact& peer) {
  if (peer.id == self_.id || peer.id.empty()) return;
  if (FindActive(peer.id) != nullptr) return;
  ErasePassive(peer.id);
  if (active_.size() >= options_.active_size) {
    const Contact victim = active_[rng_->Uniform(active_.size())].contact;
    SendTo(victim, Disconnect{});
    DropActive(victim.id, /*alive=*/true);
  }
  active_.push_back({peer, now_});
  Emit(PeerUp{peer});
}

bool Membership::DropActive(const PeerId& id, bool alive) {
  auto it = std::find_if(active_.begin(), active_.end(),
                         [&](const ActivePeer& p) { return p.contact.id == id; });
  if (it == active_.end()) return false;
  const Contact contact = it->contact;
  active_.erase(it);
  Emit(PeerDown{id, alive});
  if (alive) AddPassive(contact);
  return true;
}

void Membership::AddPassive(const Contact& peer, const std::vector<Contact>& evict_first) {
  if (peer.id == self_.id || peer.id.empty()) return;
  if (FindActive(peer.id) != nullptr || InPassive(peer.id)) return;
  if (passive_.size() >= options_.passive_size) {
    auto victim = passive_.end();
    for (const Contact& c : evict_first) {
      victim = std::find(passive_.begin(), passive_.end(), c);
      if (victim != passive_.end()) break;
    }
    if (victim == passive_.end())
      victim = passive_.begin() + ptrdiff_t(rng_->Uniform(passive_.size()));
    passive_.erase(victim);
  }
  passive_.push_back(peer);
}

void Membership::ErasePassive(const PeerId& id) {
  std::erase_if(passive_, [&](const Contact& c) { return c.id == id; });
}

void Membership::Repair() {
  if (active_.size() >= options_.active_size || passive_.empty() || asking_.has_value()) return;
  const Contact candidate = passive_[rng_->Uniform(passive_.size())];
  ++stats_.promotions;
  if (active_.empty()) {
    // Alone: join again through the candidate, which always takes a joiner in and walks it
    // into other views. It is active at once; a failed send drops it and the next is asked.
    AddActive(candidate);
    SendTo(candidate, Join{});
    return;
  }
  asking_ = candidate.id;
  asked_at_ = now_;
  SendTo(candidate, Neighbor{false});
}

std::vector<Contact> Membership::Sample(const std::vector<Contact>& from, size_t n,
                                        const PeerId& skip) {
  std::vector<const Contact*> pool;
  pool.reserve(from.size());
  for (const Contact& c : from) {
    if (c.id != skip) pool.push_back(&c);
  }
  std::vector<Contact> out;
  // A partial Fisher-Yates shuffle: the first n of a random permutation.
  for (size_t i = 0; i < pool.size() && out.size() < n; ++i) {
    std::swap(pool[i], pool[i + rng_->Uniform(pool.size() - i)]);
    out.push_back(*pool[i]);
  }
  return out;
}

const Contact* Membership::RandomActive(const PeerId& skip) {
  std::vector<const Contact*> pool;
  for (const ActivePeer& p : active_) {
    if (p.contact.id != skip) pool.push_back(&p.contact);
  }
  if (pool.empty()) return nullptr;
  return pool[rng_->Uniform(pool.size())];
}

}  // namespace mesh::membership
