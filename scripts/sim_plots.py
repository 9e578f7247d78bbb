#!/usr/bin/env python3
"""Plots of a meshsim run, or of runs at several sizes (python3-matplotlib).

  sim_plots.py DIR                      DIR/summary.json -> DIR/latency_cdf.png, utilisation.png,
                                        payouts.png, reputation.png
  sim_plots.py --scaling OUT DIR...     the runs' summary.json and run.json -> OUT/scaling.png
                                        (messages per job and wall time per job against N)
"""
import json
import os
import sys

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


def load(path):
    with open(path) as f:
        return json.load(f)


def run_plots(d):
    s = load(os.path.join(d, 'summary.json'))
    title = f"{s['scenario']}: {s['nodes']:,} nodes, {s['jobs_submitted']:,} jobs (seed {s['seed']})"

    cdf = s['latency_cdf_ms']
    if cdf:
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot([v / 1000 for v in cdf], [i / 100 for i in range(len(cdf))])
        ax.set_xscale('log')
        ax.set_xlabel('submit to end (s, log scale)')
        ax.set_ylabel('share of ended jobs')
        ax.set_title('Latency CDF — ' + title, fontsize=9)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(d, 'latency_cdf.png'), dpi=110)
        plt.close(fig)

    series = s['series']
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(series['t_s'], [u if u is not None else float('nan') for u in series['utilisation']])
    ax.set_xlabel('simulated time (s)')
    ax.set_ylabel('busy slots / slots of live nodes')
    ax.set_ylim(0, 1)
    ax.set_title('Utilisation — ' + title, fontsize=9)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(d, 'utilisation.png'), dpi=110)
    plt.close(fig)

    paid = s['credits_paid_by_role']
    fig, ax = plt.subplots(figsize=(7, 4))
    roles = sorted(s['nodes_by_role'])
    ax.bar(roles, [paid.get(r, 0) for r in roles],
           color=['tab:green' if r == 'honest' else 'tab:red' for r in roles])
    ax.set_ylabel('credits paid')
    ax.set_title(f"Payouts by class ({100 * s['adversary_share_of_credits']:.2f}% to adversaries) — "
                 + title, fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(d, 'payouts.png'), dpi=110)
    plt.close(fig)

    rep = series['reputation_by_role']
    if rep:
        fig, ax = plt.subplots(figsize=(7, 4))
        for role, values in sorted(rep.items()):
            t = series['t_s'][:len(values)]
            ax.plot(t, [v if v is not None else float('nan') for v in values], label=role)
        ax.set_xlabel('simulated time (s)')
        ax.set_ylabel('mean reputation score')
        ax.set_ylim(0, 1)
        ax.legend()
        ax.set_title('Reputation by class — ' + title, fontsize=9)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(d, 'reputation.png'), dpi=110)
        plt.close(fig)


def scaling_plot(out, dirs):
    rows = []
    for d in dirs:
        s = load(os.path.join(d, 'summary.json'))
        r = load(os.path.join(d, 'run.json'))
        jobs = max(1, s['jobs_submitted'])
        rows.append((s['nodes'], s['messages_per_job'], 1e6 * r['wall_seconds'] / jobs,
                     s['membership_messages_per_node_s']))
    rows.sort()
    n = [r[0] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(n, [r[1] for r in rows], 'o-', label='market messages per job')
    a.plot(n, [r[3] for r in rows], 's-', label='membership messages per node per s')
    a.set_xscale('log')
    a.set_xlabel('nodes (log scale)')
    a.set_ylim(bottom=0)
    a.legend(fontsize=8)
    a.set_title('Messages against N', fontsize=9)
    a.grid(True, alpha=0.3)
    b.plot(n, [r[2] for r in rows], 'o-')
    b.set_xscale('log')
    b.set_xlabel('nodes (log scale)')
    b.set_ylabel('wall-clock µs per simulated job')
    b.set_ylim(bottom=0)
    b.set_title('Simulation cost per job against N', fontsize=9)
    b.grid(True, alpha=0.3)
    fig.tight_layout()
    os.makedirs(out, exist_ok=True)
    fig.savefig(os.path.join(out, 'scaling.png'), dpi=110)
    plt.close(fig)


def main(argv):
    if len(argv) >= 3 and argv[0] == '--scaling':
        scaling_plot(argv[1], argv[2:])
    elif len(argv) == 1:
        run_plots(argv[0])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
