#!/usr/bin/env python3
"""Checks that the cores without I/O stay that way (issues 14 and 19; docs/architecture.md).

A core (the market today) decides: it takes the time and one input and returns actions. It must
not reach the network, the disk, SQLite, threads, the logger or the clock, or the simulator could
not run it and its tests could not drive it with manual time. This script fails on any include or
use that would let it, naming file:line and the rule broken.

Usage: lint_pure_cores.py [--root DIR]   (default: the repository holding this script)
Comments and string literals are ignored; everything else in the listed folders is checked,
tests included (a core's tests use manual time too).
"""
import argparse
import pathlib
import re
import subprocess
import sys

# (regex, what it is) — matched outside comments and string literals, in every core.
CLOCK_AND_SLEEP_USES = [
    (r'\babsl::Now\b', 'absl::Now (reads the clock)'),
    (r'\bSystemClock\b', 'SystemClock (reads the clock)'),
    (r'\b(?:std::)?(?:chrono::)?(?:system_clock|steady_clock|high_resolution_clock)\b',
     'a std::chrono clock (reads the clock)'),
    (r'\bsleep_(?:for|until)\b', 'sleeping (std::this_thread::sleep_for/until)'),
    (r'\babsl::SleepFor\b', 'absl::SleepFor (sleeps)'),
]

# No core owns a thread, a lock, a file or a database.
THREAD_FILE_AND_SQLITE_HEADERS = [
    'thread', 'mutex', 'shared_mutex', 'condition_variable', 'future', 'fstream', 'filesystem',
    'sqlite3.h',
]

# Each core: the folders it lives in, and what it may not use.
CORES = [
    {
        'name': 'market',
        'dirs': ['src/market/', 'include/mesh/market/'],
        'banned_include_prefixes': [
            'mesh/net/', 'mesh/node/', 'mesh/api/', 'mesh/ledger/', 'mesh/cas/', 'mesh/exec/',
            'mesh/wasm/', 'spdlog/',
        ],
        'banned_includes': THREAD_FILE_AND_SQLITE_HEADERS,
        'banned_uses': CLOCK_AND_SLEEP_USES,
        'why': 'the market core takes time and inputs as arguments and returns actions; '
               'I/O, threads, logging and clocks belong in the node shell (src/node)',
        # The core's test harness plays the node shell around it (a virtual clock, an in-memory
        # network and blob store, the ledger's book): it names blobs by CID and posts escrows to
        # the book as the node does, so it may use cas and the book (pure), and nothing else the
        # core may not.
        'harness': {'dirs': ['src/market/testing/'],
                    'allowed_include_prefixes': ['mesh/cas/', 'mesh/ledger/ledger_book.h']},
    },
    {
        'name': 'membership',
        'dirs': ['src/membership/', 'include/mesh/membership/'],
        'banned_include_prefixes': [
            'mesh/net/', 'mesh/node/', 'mesh/api/', 'mesh/ledger/', 'mesh/cas/', 'mesh/exec/',
            'mesh/wasm/', 'mesh/market/', 'spdlog/',
        ],
        'banned_includes': THREAD_FILE_AND_SQLITE_HEADERS,
        'banned_uses': CLOCK_AND_SLEEP_USES,
        'why': 'membership takes time and inputs as arguments and returns actions; sockets, '
               'timers and the peer table belong in the shells (src/node, src/sim)',
    },    {
        'name': 'storage decisions',
        'dirs': [
            'src/storage/holder_chooser.cc',
            'src/storage/holder_chooser_test.cc',
            'include/mesh/storage/holder_chooser.h',
            'src/storage/shard_fetch_plan.cc',
            'src/storage/shard_fetch_plan_test.cc',
            'include/mesh/storage/shard_fetch_plan.h',
            'src/storage/upkeep_planner.cc',
            'src/storage/upkeep_planner_test.cc',
            'include/mesh/storage/upkeep_planner.h',
            'src/storage/audit_sampler.cc',
            'src/storage/audit_sampler_test.cc',
            'include/mesh/storage/audit_sampler.h',
        ],
        'banned_include_prefixes': [
            'mesh/net/', 'mesh/node/', 'mesh/api/', 'mesh/ledger/', 'mesh/exec/', 'mesh/wasm/',
            'mesh/market/', 'spdlog/',
        ],
        'banned_includes': THREAD_FILE_AND_SQLITE_HEADERS,
        'banned_uses': CLOCK_AND_SLEEP_USES,
        'why': 'where shards go, which to fetch, what to audit and repair are decided from the '
               'time and state given; transfers, storage.db and the ticks belong in src/node',
    },
]

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def is_digit_separator(text, i):
    """True for the ' in 1'000'000 (a number's token starts with a digit; u8'x' does not)."""
    j = i
    while j > 0 and (text[j - 1].isalnum() or text[j - 1] in "_'"):
        j -= 1
    return j < i and text[j].isdigit()


def strip(text, keep_strings):
    """Blanks comments (and, unless keep_strings, string and char literals), keeping lines."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i))
            i = j
        elif text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c == 'R' and text.startswith('R"', i) and (i == 0 or not text[i - 1].isalnum()):
            m = re.match(r'R"([^(\s]{0,16})\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(')' + m.group(1) + '"', i + m.end())
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(text[i:j] if keep_strings else re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c == "'" and is_digit_separator(text, i):
            out.append(c)
            i += 1
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            j = min(j + 1, n)
            out.append(text[i:j] if keep_strings else c + ' ' * (j - i - 2) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def list_files(root, dirs):
    listed = subprocess.run(
        ['git', 'ls-files', '--cached', '--others', '--exclude-standard', '--', *dirs],
        cwd=root, check=True, capture_output=True, text=True).stdout.split()
    return [f for f in listed if f.endswith(('.h', '.cc', '.hpp', '.cpp')) and
            (root / f).is_file()]


def check_file(root, path, core):
    problems = []
    text = (root / path).read_text(encoding='utf-8', errors='replace')
    no_comments = strip(text, keep_strings=True).split('\n')
    code = strip(text, keep_strings=False).split('\n')
    for number, (line, bare) in enumerate(zip(no_comments, code), start=1):
        m = INCLUDE_RE.match(line)
        if m:
            header = m.group(2)
            shown = f'<{header}>' if m.group(1) == '<' else f'"{header}"'
            harness = core.get('harness', {})
            allowed = harness.get('allowed_include_prefixes', []) if any(
                path.startswith(d) for d in harness.get('dirs', [])) else []
            if header in core['banned_includes'] or any(
                    header.startswith(p) and not any(header.startswith(a) for a in allowed)
                    for p in core['banned_include_prefixes']):
                problems.append(f'{path}:{number}: includes {shown}, which the {core["name"]} '
                                f'core may not: {core["why"]}')
            continue
        for pattern, what in core['banned_uses']:
            if re.search(pattern, bare):
                problems.append(f'{path}:{number}: uses {what}, which the {core["name"]} core '
                                f'may not: {core["why"]}')
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', type=pathlib.Path,
                        default=pathlib.Path(__file__).resolve().parent.parent)
    root = parser.parse_args().root.resolve()
    problems, checked = [], 0
    for core in CORES:
        for path in list_files(root, core['dirs']):
            checked += 1
            problems += check_file(root, path, core)
    for p in problems:
        print(f'lint: {p}', file=sys.stderr)
    if problems:
        print(f'lint: {len(problems)} use(s) of I/O, threads or clocks in a pure core',
              file=sys.stderr)
        return 1
    print(f'lint: {checked} core files free of I/O, threads and clocks')
    return 0


if __name__ == '__main__':
    sys.exit(main())
