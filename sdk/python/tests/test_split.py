"""Unit tests of mesh_sdk.split: pure functions, no node needed.

The properties a split job relies on are checked on many shapes of input: every byte kept once
and in order, no empty part, no record cut in two, and the number of parts asked for.
"""

import random
import unittest

from mesh_sdk import split_bytes, split_lines, split_records


def records_of(data, sep):
    """The records of `data` (each ending just after `sep`, or at the end), independently of
    the implementation under test."""
    out, start = [], 0
    while start < len(data):
        i = data.find(sep, start)
        end = len(data) if i == -1 else i + len(sep)
        out.append(data[start:end])
        start = end
    return out


class SplitBytesTest(unittest.TestCase):
    def test_chunks_keep_every_byte_in_order(self):
        data = bytes(range(256)) * 3
        for size in (1, 7, 100, 256, 767, 768, 769, 10_000):
            parts = split_bytes(data, size)
            self.assertEqual(b''.join(parts), data, size)
            self.assertTrue(all(len(p) == size for p in parts[:-1]), size)
            self.assertTrue(0 < len(parts[-1]) <= size, size)
            self.assertEqual(len(parts), -(-len(data) // size), size)

    def test_edge_cases(self):
        self.assertEqual(split_bytes(b'', 4), [])
        self.assertEqual(split_bytes(b'abc', 3), [b'abc'])
        self.assertEqual(split_bytes(bytearray(b'abcd'), 3), [b'abc', b'd'])
        self.assertEqual(split_bytes(memoryview(b'ab'), 1), [b'a', b'b'])

    def test_bad_arguments_are_refused(self):
        for bad in (0, -1):
            with self.assertRaises(ValueError):
                split_bytes(b'abc', bad)
        for bad in (1.5, '2', None, True):
            with self.assertRaises(TypeError):
                split_bytes(b'abc', bad)
        with self.assertRaises(TypeError):
            split_bytes('text', 2)


class SplitLinesTest(unittest.TestCase):
    def check(self, data, n, parts, sep=b'\n'):
        """The invariants, whatever the input."""
        self.assertEqual(b''.join(parts), data, 'every byte, in order')
        self.assertTrue(all(parts), 'no empty part')
        recs = records_of(data, sep)
        self.assertEqual(len(parts), min(n, len(recs)))
        self.assertEqual([r for p in parts for r in records_of(p, sep)], recs,
                         'no record split in two')
        for p in parts[:-1]:
            self.assertTrue(p.endswith(sep), f'part {p!r} ends inside a record')

    def test_lines_are_never_split(self):
        data = b''.join(b'line %d %s\n' % (i, b'x' * (i % 13)) for i in range(100))
        for n in (1, 2, 3, 7, 10, 99, 100, 101, 1000):
            self.check(data, n, split_lines(data, n))

    def test_parts_are_balanced(self):
        data = b'abcdefghi\n' * 1000  # 10,000 bytes of equal lines
        parts = split_lines(data, 4)
        self.assertEqual([len(p) for p in parts], [2500, 2500, 2500, 2500])
        parts = split_lines(data, 3)
        self.assertTrue(all(abs(len(p) - 10_000 / 3) <= 10 for p in parts), [len(p) for p in parts])

    def test_edge_cases(self):
        self.assertEqual(split_lines(b'', 3), [])
        self.assertEqual(split_lines(b'one line, no newline', 4), [b'one line, no newline'])
        self.assertEqual(split_lines(b'a\nb', 5), [b'a\n', b'b'], 'n_parts > lines: one each')
        self.assertEqual(split_lines(b'\n\n\n', 2), [b'\n\n', b'\n'], 'empty lines are lines')
        self.assertEqual(split_lines(b'a\nb\n', 1), [b'a\nb\n'])
        # One huge line among small ones: its part grows, the line stays whole.
        data = b'a\n' + b'x' * 1000 + b'\n' + b'b\nc\n'
        self.check(data, 3, split_lines(data, 3))
        self.check(b'a\r\nb\r\n', 2, split_lines(b'a\r\nb\r\n', 2))

    def test_random_inputs_keep_the_invariants(self):
        rng = random.Random(1234)
        for _ in range(300):
            data = bytes(rng.choice(b'ab\n') for _ in range(rng.randrange(0, 200)))
            n = rng.randrange(1, 12)
            self.check(data, n, split_lines(data, n))

    def test_bad_arguments_are_refused(self):
        for bad in (0, -3):
            with self.assertRaises(ValueError):
                split_lines(b'a\n', bad)
        with self.assertRaises(TypeError):
            split_lines('a\n', 2)


class SplitRecordsTest(unittest.TestCase):
    check = SplitLinesTest.check  # the same invariants, without re-running the line tests

    def test_multi_byte_separator(self):
        data = b'r1||r2||record three||r4'
        for n in range(1, 6):
            parts = split_records(data, n, b'||')
            self.check(data, n, parts, b'||')
        self.assertEqual(split_records(data, 10, b'||'), [b'r1||', b'r2||', b'record three||',
                                                          b'r4'])
        # A separator inside a separator-like run: records end after each full separator.
        self.assertEqual(split_records(b'a|||b', 5, b'||'), [b'a||', b'|b'])

    def test_nul_separated_records(self):
        data = b'\0'.join(b'rec%d' % i for i in range(50)) + b'\0'
        self.check(data, 6, split_records(data, 6, b'\0'), b'\0')

    def test_bad_arguments_are_refused(self):
        with self.assertRaises(ValueError):
            split_records(b'a', 2, b'')
        with self.assertRaises(ValueError):
            split_records(b'a', 0)


if __name__ == '__main__':
    unittest.main()
