"""Pure helpers that cut one input into parts for split (map-style) jobs.

Each part becomes the stdin of one job, so the rules are the ones a map/reduce needs: every byte
is kept exactly once and in order (``b''.join(parts) == data``), no part is empty, and the
record-aware splitters never cut a record (a line) in two, so a job never sees half a line.
They do no I/O and depend on nothing else in the SDK.
"""

import bisect

__all__ = ['split_bytes', 'split_lines', 'split_records']


def _as_bytes(data):
    if isinstance(data, str):
        raise TypeError('data must be bytes-like, not str (encode it first)')
    return bytes(data)


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int, not {type(value).__name__}')
    if value < 1:
        raise ValueError(f'{name} must be at least 1, got {value}')


def split_bytes(data, chunk_size):
    """Fixed-size chunks: ``data`` cut every ``chunk_size`` bytes (the last chunk may be shorter).

    For inputs without record structure (binary blobs). Empty ``data`` gives ``[]``; a
    ``chunk_size`` below 1 is refused with ``ValueError`` (it would never end or lose bytes).
    """
    _positive('chunk_size', chunk_size)
    data = _as_bytes(data)
    return [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]


def split_lines(data, n_parts):
    """At most ``n_parts`` parts of about equal size, each made of whole lines.

    A line keeps its ``\\n``; a last line without one is still a line. Same as
    ``split_records(data, n_parts, b'\\n')``.
    """
    return split_records(data, n_parts, b'\n')


def split_records(data, n_parts, separator=b'\n'):
    """``min(n_parts, number of records)`` parts of about equal size in bytes, made of whole
    records.

    A record ends just after ``separator`` (which stays with it) or at the end of ``data``.
    Cuts are placed at the record boundaries nearest to the ideal equal-size offsets, so one
    very long record makes its part larger rather than being split. Empty ``data`` gives ``[]``;
    more parts than records gives one record per part (never an empty part). ``n_parts`` below
    1 and an empty ``separator`` are refused with ``ValueError``.
    """
    _positive('n_parts', n_parts)
    data = _as_bytes(data)
    separator = _as_bytes(separator)
    if not separator:
        raise ValueError('separator must not be empty')
    # Offsets where each record ends (exclusive).
    ends = []
    pos = data.find(separator)
    while pos != -1:
        ends.append(pos + len(separator))
        pos = data.find(separator, pos + len(separator))
    if not ends or ends[-1] != len(data):
        if data:
            ends.append(len(data))
    n = min(n_parts, len(ends))
    if n == 0:
        return []
    # Choose n-1 cut indices: after cut k (1..n-1), at least k records are behind and at least
    # n-k ahead, so every part holds one record or more.
    cuts, last = [], 0  # last: records already placed before the previous cut
    for k in range(1, n):
        ideal = len(data) * k / n
        i = bisect.bisect_left(ends, ideal)  # ends[i] is the first end at or past the ideal
        if i > 0 and i < len(ends) and ideal - ends[i - 1] < ends[i] - ideal:
            i -= 1
        count = min(max(i + 1, last + 1), len(ends) - (n - k))  # records before this cut
        cuts.append(ends[count - 1])
        last = count
    bounds = [0, *cuts, len(data)]
    return [data[bounds[j]:bounds[j + 1]] for j in range(n)]
