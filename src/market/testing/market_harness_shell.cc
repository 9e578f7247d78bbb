// MarketHarness, the shell's part: each action of a step carried out as the node would (see
// market_harness.h).
#include <algorithm>
#include <utility>

#include "absl/strings/str_join.h"
#include "mesh/common/strings.h"
#include "mesh/job/job_spec.h"
#include "testing/market_harness.h"
#include "testing/market_harness_node.h"

namespace mesh::market::testing {

// ---- Stepping and carrying out actions --------------------------------------------------------

void MarketHarness::StepNode(int node, Input input) {
  Node& n = *nodes_.at(node);
  if (!n.alive) return;
  const uint64_t incarnation = n.incarnation;
  Record(node, mesh::StrCat("< ", InputName(input)));
  std::vector<Action> actions = n.market->Step(now_, std::move(input));
  Execute(node, incarnation, std::move(actions));
}

namespace {

std::string Describe(const Action& action, const MarketHarness& h) {
  auto who = [&](const std::string& did) {
    const int i = h.IndexOf(did);
    return i < 0 ? did : mesh::StrCat("n", i);
  };
  return std::visit(
      [&](const auto& a) -> std::string {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, Send>) {
          return mesh::StrCat("send ", a.message ? job::MessageName(*a.message) : "raw", " to ",
                              who(a.to), " ttl=", a.ttl, a.reply ? " reply" : "",
                              a.token != 0 ? " token" : "", " ",
                              a.message ? job::ToJson(*a.message).dump() : a.raw);
        } else if constexpr (std::is_same_v<T, Fetch>) {
          return mesh::StrCat("fetch ", a.job_id.substr(0, 16), " ", absl::StrJoin(a.cids, ","));
        } else if constexpr (std::is_same_v<T, Persist>) {
          std::string s = mesh::StrCat("persist ", a.job_id.substr(0, 16));
          if (a.requeue) s += mesh::StrCat(" requeue(", *a.requeue, ")");
          for (const Block& b : a.blocks) s += mesh::StrCat(" ", b.phase, b.detail.dump());
          if (a.market)
            s += mesh::StrCat(" market(", who(a.market->peer), ",", a.market->round, ")");
          return s;
        } else if constexpr (std::is_same_v<T, MarkRunning>) {
          return mesh::StrCat("running ", a.job_id.substr(0, 16), " attempts=", a.attempts);
        } else if constexpr (std::is_same_v<T, Finish>) {
          return mesh::StrCat("finish ", a.result.job_id.substr(0, 16), " ",
                              job::JobStateName(a.result.state), " ", who(a.result.peer), " ",
                              a.result.reason);
        } else if constexpr (std::is_same_v<T, RunHere>) {
          return mesh::StrCat("run ", a.assignment.job_id.substr(0, 16), " round ",
                              a.assignment.round);
        } else if constexpr (std::is_same_v<T, RunAtHome>) {
          return mesh::StrCat("run at home ", a.job_id.substr(0, 16), " ", a.reason);
        } else if constexpr (std::is_same_v<T, CancelRun>) {
          return mesh::StrCat("cancel run ", a.job_id.substr(0, 16), " ", a.reason);
        } else if constexpr (std::is_same_v<T, Pay>) {
          return mesh::StrCat("pay ", who(a.executor), " ", a.price, " for ", a.assignment);
        } else if constexpr (std::is_same_v<T, Refund>) {
          return mesh::StrCat("refund ", a.job_id.substr(0, 16), " ", a.why);
        } else if constexpr (std::is_same_v<T, RecordStanding>) {
          return mesh::StrCat("standing ", who(a.executor), " ", StandingName(a.event));
        } else if constexpr (std::is_same_v<T, Publish>) {
          return mesh::StrCat("publish ", a.topic, " ", a.job_id.substr(0, 16), " ", a.data.dump());
        } else if constexpr (std::is_same_v<T, Count>) {
          return mesh::StrCat("count ", CounterName(a.counter), " ", a.label, " ", a.by);
        } else if constexpr (std::is_same_v<T, Log>) {
          return mesh::StrCat("log ", a.text);
        } else if constexpr (std::is_same_v<T, Observe>) {
          return mesh::StrCat("observe ", absl::FormatDuration(a.delegated));
        } else if constexpr (std::is_same_v<T, SetTimer>) {
          return mesh::StrCat("timer ", absl::ToUnixMillis(a.at) % 10'000'000);
        }
      },
      action);
}

}  // namespace

void MarketHarness::Execute(int node, uint64_t incarnation, std::vector<Action> actions) {
  Node& n = *nodes_[node];
  std::optional<absl::Time> wanted;
  bool load_changed = false;
  for (Action& action : actions) {
    Record(node, Describe(action, *this));
    if (n.incarnation != incarnation || !n.alive) continue;
    std::visit(
        [&](auto& a) {
          using T = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<T, Send>) {
            if (a.reply) {
              anomalies_.push_back(mesh::StrCat("n", node, ": a reply outside a request's step"));
            } else {
              DoSend(node, a);
            }
          } else if constexpr (std::is_same_v<T, Fetch>) {
            DoFetch(node, a);
          } else if constexpr (std::is_same_v<T, Persist>) {
            DoPersist(node, a);
          } else if constexpr (std::is_same_v<T, MarkRunning>) {
            auto it = jobs_.find(a.job_id);
            if (it != jobs_.end()) {
              it->second.running = true;
              it->second.attempts = a.attempts;
            }
          } else if constexpr (std::is_same_v<T, Finish>) {
            auto it = jobs_.find(a.result.job_id);
            if (it == jobs_.end() || it->second.submitter != node) {
              anomalies_.push_back(
                  mesh::StrCat("n", node, ": finish of a job it does not hold ", a.result.job_id));
            } else {
              it->second.finishes.push_back(a.result);
              it->second.running = false;
            }
          } else if constexpr (std::is_same_v<T, RunHere>) {
            DoRunHere(node, a);
            load_changed = true;
          } else if constexpr (std::is_same_v<T, RunAtHome>) {
            // The shell queues it as a local job: what the harness keeps is that it came home.
            auto it = jobs_.find(a.job_id);
            if (it == jobs_.end() || it->second.submitter != node) {
              anomalies_.push_back(
                  mesh::StrCat("n", node, ": a job it does not hold came home ", a.job_id));
            } else {
              it->second.at_home.push_back(a.reason);
            }
          } else if constexpr (std::is_same_v<T, CancelRun>) {
            // Only a run that origin assigned, and only while it runs (the shell's check).
            auto run = n.active.find(a.job_id);
            if (run != n.active.end() && run->second.run.assignment.origin == a.origin) {
              EndRun(node, a.job_id, true, a.reason);
              load_changed = true;
            }
          } else if constexpr (std::is_same_v<T, Pay>) {
            DoPay(node, a);
          } else if constexpr (std::is_same_v<T, Refund>) {
            DoRefund(node, a);
          } else if constexpr (std::is_same_v<T, RecordStanding>) {
            n.trust.Record(a.executor, a.event);
            n.standings[a.executor].push_back(a.event);
          } else if constexpr (std::is_same_v<T, Publish>) {
            n.published.push_back(a);
          } else if constexpr (std::is_same_v<T, Count>) {
            counts_[{node, a.counter, a.label}] += a.by;
          } else if constexpr (std::is_same_v<T, SetTimer>) {
            wanted = a.at;
          }
        },
        action);
  }
  if (n.incarnation != incarnation || !n.alive) return;
  if (!wanted.has_value()) wanted = n.market->next_timer();
  if (wanted.has_value() && wanted != n.timer) ArmTimer(node, *wanted);
  if (load_changed) {
    At(now_, [this, node, incarnation] {
      if (nodes_[node]->incarnation == incarnation) SendCapacity(node);
    });
  }
}

void MarketHarness::ArmTimer(int node, absl::Time at) {
  Node& n = *nodes_[node];
  n.timer = at;
  const uint64_t generation = ++n.timer_generation;
  const uint64_t incarnation = n.incarnation;
  At(at, [this, node, generation, incarnation] {
    Node& n = *nodes_[node];
    if (n.incarnation != incarnation || n.timer_generation != generation) return;
    n.timer.reset();
    StepNode(node, TimerFired{});
  });
}

void MarketHarness::DoSend(int node, const Send& send) {
  Node& n = *nodes_[node];
  job::Message message;
  std::string envelope;
  if (send.message.has_value()) {
    message = *send.message;
    std::visit(
        [&](auto& m) {
          m.header.sent_at_ms = absl::ToUnixMillis(now_);
          m.header.nonce = Hex32(envelope_seq_ + 1);
        },
        message);
    envelope = Envelope(node, message);
    sent_.emplace_back(node, message);
  } else {
    auto it = envelopes_.find(send.raw);
    if (it == envelopes_.end()) {
      anomalies_.push_back(mesh::StrCat("n", node, ": a relay of bytes it never received"));
      return;
    }
    message = it->second;
    envelope = send.raw;
  }
  const int target = IndexOf(send.to);
  const uint64_t token = send.token;
  const uint64_t incarnation = n.incarnation;
  auto answer = [this, node, incarnation, token](absl::Time at, SendResult result) {
    if (token == 0) return;
    result.token = token;
    At(at, [this, node, incarnation, result = std::move(result)]() mutable {
      if (nodes_[node]->incarnation != incarnation) return;  // the sender restarted
      StepNode(node, std::move(result));
    });
  };
  if (target < 0) {
    anomalies_.push_back(mesh::StrCat("n", node, ": a send to an unknown DID ", send.to));
    answer(now_ + Latency(), SendResult{0, absl::NotFoundError("unknown peer"), {}, {}});
    return;
  }
  if (n.config.staller && !forging_ && std::holds_alternative<job::Receipt>(message)) {
    // --fault stall: the receipt is withheld (the shell's send "succeeds" for the core).
    Record(node, "stall: receipt withheld");
    answer(now_ + 2 * options_.latency, SendResult{});
    return;
  }
  if (!Reachable(node) || Lost()) {
    answer(now_ + 2 * Latency(),
           SendResult{0, absl::UnavailableError("connection failed"), {}, {}});
    return;
  }
  const absl::Time arrives = now_ + Latency();
  const uint64_t target_incarnation = nodes_[target]->incarnation;
  const std::string from = n.did;
  const int ttl = send.ttl;
  At(arrives, [this, node, target, target_incarnation, from, message, envelope, ttl, token,
               answer] {
    Node& t = *nodes_[target];
    if (!Reachable(target) || t.incarnation != target_incarnation) {
      answer(now_ + Latency(), SendResult{0, absl::UnavailableError("peer unreachable"), {}, {}});
      return;
    }
    Received r;
    r.from = from;
    r.message = message;
    r.envelope = envelope;
    r.envelope_cid = CidOf(envelope);
    r.ttl = ttl;
    const uint64_t incarnation = t.incarnation;
    std::vector<Action> actions = t.market->Step(now_, std::move(r));
    std::optional<job::Message> reply;
    std::vector<Action> rest;
    for (Action& a : actions) {
      if (auto* s = std::get_if<Send>(&a); s != nullptr && s->reply) {
        Record(target, mesh::StrCat("reply to n", node, " ",
                                    s->message ? job::ToJson(*s->message).dump() : "(raw)"));
        if (reply.has_value()) {
          anomalies_.push_back(mesh::StrCat("n", target, ": two replies to one request"));
        }
        if (s->message.has_value()) reply = *s->message;
        continue;
      }
      rest.push_back(std::move(a));
    }
    Execute(target, incarnation, std::move(rest));
    if (token == 0) return;
    if (Lost()) {
      answer(now_ + Latency(), SendResult{0, absl::UnavailableError("reply lost"), {}, {}});
      return;
    }
    SendResult result;
    if (reply.has_value()) {
      std::visit(
          [&](auto& m) {
            m.header.sent_at_ms = absl::ToUnixMillis(now_);
            m.header.nonce = Hex32(envelope_seq_ + 1);
          },
          *reply);
      result.reply_envelope_cid = CidOf(Envelope(target, *reply));
      sent_.emplace_back(target, *reply);
      result.reply = std::move(reply);
    }
    answer(now_ + Latency(), std::move(result));
  });
}

void MarketHarness::DoFetch(int node, const Fetch& fetch) {
  const uint64_t incarnation = nodes_[node]->incarnation;
  At(now_ + options_.fetch_time, [this, node, incarnation, fetch] {
    Node& n = *nodes_[node];
    if (n.incarnation != incarnation || !n.alive) return;
    absl::Status status;
    for (const std::string& cid : fetch.cids) {
      if (n.blobs.contains(cid)) continue;
      bool found = false;
      for (const FetchSource& source : fetch.sources) {
        const int s = IndexOf(source.did);
        if (s >= 0 && Reachable(s) && !n.cut && nodes_[s]->blobs.contains(cid)) {
          found = true;
          break;
        }
      }
      if (!found) {
        status = absl::UnavailableError(mesh::StrCat("no source has ", cid));
        break;
      }
    }
    if (status.ok()) {
      for (const std::string& cid : fetch.cids) n.blobs.insert(cid);
    }
    StepNode(node, FetchResult{fetch.token, status});
  });
}

void MarketHarness::DoRunHere(int node, const RunHere& run) {
  Node& n = *nodes_[node];
  const std::string& id = run.assignment.job_id;
  // The compute service has the job already (assigned again: a new round, or after a restart
  // of the core). As the node did before the core: a run goes on and reports in the new round;
  // an ended one reports its end again, in the new round.
  if (auto it = n.active.find(id); it != n.active.end()) {
    Record(node, "run goes on in the new round");
    it->second.run = run;
    return;
  }
  if (auto it = n.ended.find(id); it != n.ended.end()) {
    Record(node, "run ended already: its end is reported again");
    LocalRunEnd end = it->second;
    end.origin = run.assignment.origin;
    end.origin_address = run.assignment.origin_address;
    end.round = run.assignment.round;
    const uint64_t incarnation = n.incarnation;
    At(now_, [this, node, incarnation, end] {
      if (nodes_[node]->incarnation == incarnation) StepNode(node, LocalEnded{end});
    });
    return;
  }
  Node::Active a;
  a.run = run;
  a.log = n.runs.size();
  n.runs.push_back(RunLog{id, run.assignment.round, run.assignment.resume_checkpoint, now_});
  n.active[id] = std::move(a);
  n.waiting.push_back(id);
  if (n.running < n.config.slots) StartRun(node, n.waiting.front());
}

void MarketHarness::StartRun(int node, std::string job_id) {  // a copy: it erases it from waiting
  Node& n = *nodes_[node];
  n.waiting.erase(std::find(n.waiting.begin(), n.waiting.end(), job_id));
  Node::Active& a = n.active.at(job_id);
  a.running = true;
  ++n.running;
  n.runs[a.log].started = now_;
  const uint64_t incarnation = n.incarnation;
  const size_t log = a.log;
  auto still = [this, node, incarnation, job_id, log] {
    Node& n = *nodes_[node];
    auto it = n.active.find(job_id);
    return n.incarnation == incarnation && it != n.active.end() && it->second.log == log;
  };
  if (n.config.progress) {
    At(now_ + n.config.run_time / 2, [this, node, job_id, still] {
      if (!still()) return;
      const job::Assignment& as = nodes_[node]->active.at(job_id).run.assignment;
      StepNode(node, LocalProgress{job_id, as.origin, as.origin_address, as.round, 50, "half"});
    });
  }
  if (n.config.checkpoint_every > absl::ZeroDuration()) {
    uint32_t index = 0;
    for (absl::Duration t = n.config.checkpoint_every; t < n.config.run_time;
         t += n.config.checkpoint_every, ++index) {
      At(now_ + t, [this, node, job_id, index, still, log] {
        if (!still()) return;
        Node& n = *nodes_[node];
        const job::Assignment& as = n.active.at(job_id).run.assignment;
        LocalArtifact art;
        art.job_id = job_id;
        art.origin = as.origin;
        art.origin_address = as.origin_address;
        art.round = as.round;
        art.kind = "checkpoint";
        art.index = index;
        art.cid =
            CidOf(mesh::StrCat("checkpoint ", index, " of ", job_id, " by n", node, "/", log));
        art.bytes = 64;
        art.fuel = 1000 * (index + 1);
        n.blobs.insert(art.cid);
        StepNode(node, std::move(art));
      });
    }
  }
  At(now_ + n.config.run_time, [this, node, job_id, still] {
    if (still()) EndRun(node, job_id, false, "");
  });
}

void MarketHarness::EndRun(int node, const std::string& job_id, bool cancelled,
                           const std::string& reason) {
  Node& n = *nodes_[node];
  auto it = n.active.find(job_id);
  if (it == n.active.end()) return;
  Node::Active a = std::move(it->second);
  n.active.erase(it);
  if (a.running) {
    --n.running;
  } else {
    n.waiting.erase(std::find(n.waiting.begin(), n.waiting.end(), job_id));
  }
  RunLog& log = n.runs[a.log];
  log.ended = true;
  log.cancelled = cancelled;

  LocalRunEnd end;
  end.job_id = job_id;
  end.origin = a.run.assignment.origin;
  end.origin_address = a.run.assignment.origin_address;
  end.round = a.run.assignment.round;
  end.started_at = log.started;
  end.finished_at = now_;
  if (cancelled) {
    end.state = job::JobState::kCancelled;
    end.reason = reason;
  } else {
    auto spec = jobs_.find(job_id);
    std::string output = spec == jobs_.end() ? CidOf(job_id) : HonestOutput(spec->second.spec);
    if (n.config.liar) output = CidOf(mesh::StrCat(output, " altered by n", node));
    // A tamperer's receipt names the honest output, but the bytes it serves do not hash to it:
    // to a fetch that checks them, it does not have the blob.
    if (!n.config.tamperer) n.blobs.insert(output);
    end.state = job::JobState::kSucceeded;
    end.outcome = "ok";
    end.output_cid = output;
    end.output_bytes = 32;
    if (spec != jobs_.end() && !spec->second.spec.output_dir.empty()) {
      end.files_cid = HonestFiles(spec->second.spec);
      if (n.config.files_liar) {
        end.files_cid =
            cas::Cid::Of(mesh::StrCat(end.files_cid, " altered by n", node), cas::Codec::kDagJson)
                .ToString();
      }
      n.blobs.insert(end.files_cid);
    }
    end.fuel_used = options_.fuel_used;
    end.report_json = "{}";
  }
  n.ended[job_id] = end;
  if (!n.waiting.empty() && n.running < n.config.slots) StartRun(node, n.waiting.front());
  StepNode(node, LocalEnded{std::move(end)});
  const uint64_t incarnation = n.incarnation;
  At(now_, [this, node, incarnation] {
    if (nodes_[node]->incarnation == incarnation) SendCapacity(node);
  });
}

void MarketHarness::DoPersist(int node, const Persist& p) {
  auto it = jobs_.find(p.job_id);
  // A split job's lease is not a job the harness handed; an executor's record of the job is
  // its own (the harness keeps the submitter's).
  if (it == jobs_.end() || it->second.submitter != node) return;
  JobLog& log = it->second;
  if (p.requeue.has_value()) {
    log.blocks.push_back(Block{"requeued", {{"reason", *p.requeue}}});
    log.running = false;
  }
  for (const Block& b : p.blocks) log.blocks.push_back(b);
  if (p.market.has_value()) log.market = p.market;
}

void MarketHarness::DoPay(int node, const Pay& pay) {
  auto it = jobs_.find(pay.job_id);
  if (it == jobs_.end()) {
    anomalies_.push_back(mesh::StrCat("pay for an unknown job ", pay.job_id));
    return;
  }
  JobLog& log = it->second;
  if (log.submitter != node) {
    anomalies_.push_back(mesh::StrCat("n", node, ": pays for a job it did not submit"));
    return;
  }
  for (const Pay& p : log.payments) {
    if (p.assignment == pay.assignment) {
      log.escrow_errors.push_back(mesh::StrCat("paid twice: ", pay.assignment));
      return;
    }
  }
  const int64_t fee = book_.NetworkFee(pay.price);
  absl::StatusOr<ledger::Posted> paid =
      book_.Post(book_.DecidePay(pay.job_id, pay.executor, pay.price, fee, pay.assignment, now_));
  if (!paid.ok() || paid->duplicate) {
    log.escrow_errors.push_back(mesh::StrCat("the book refused to pay ", pay.assignment, ": ",
                                             paid.ok() ? "a duplicate" : paid.status().ToString()));
    return;
  }
  log.spent += pay.price + fee;
  log.payments.push_back(pay);
}

void MarketHarness::DoRefund(int node, const Refund& refund) {
  auto it = jobs_.find(refund.job_id);
  if (it == jobs_.end() || it->second.submitter != node) {
    anomalies_.push_back(mesh::StrCat("n", node, ": a refund of a job it did not submit"));
    return;
  }
  JobLog& log = it->second;
  ++log.refunds;
  absl::StatusOr<ledger::Posted> refunded =
      book_.Post(book_.DecideRefund(refund.job_id, refund.why, now_));
  if (!refunded.ok() || refunded->duplicate) {
    log.escrow_errors.push_back(
        mesh::StrCat("the book refused the refund: ",
                     refunded.ok() ? "refunded twice" : refunded.status().ToString()));
  }
}

}  // namespace mesh::market::testing
