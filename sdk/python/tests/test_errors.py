"""Unit tests of the mapping from the node's error answers to exceptions (no node needed), for
the cases a --no-mesh test node cannot produce: insufficient credit, 503, 507, bodies that are
not the documented JSON."""

import json
import unittest

import mesh_sdk
from mesh_sdk.errors import error_from_response


def body(code, message):
    return json.dumps({'code': code, 'message': message}).encode()


class ErrorMappingTest(unittest.TestCase):
    def test_codes_map_to_classes(self):
        for status, code, cls in ((400, 'invalid_argument', mesh_sdk.InvalidArgument),
                                  (413, 'payload_too_large', mesh_sdk.InvalidArgument),
                                  (401, 'unauthenticated', mesh_sdk.Unauthenticated),
                                  (404, 'not_found', mesh_sdk.NotFound),
                                  (409, 'failed_precondition', mesh_sdk.FailedPrecondition),
                                  (409, 'already_exists', mesh_sdk.AlreadyExists),
                                  (503, 'unavailable', mesh_sdk.Unavailable),
                                  (507, 'resource_exhausted', mesh_sdk.ResourceExhausted),
                                  (500, 'internal', mesh_sdk.Internal)):
            e = error_from_response(status, body(code, 'why'))
            self.assertIs(type(e), cls, code)
            self.assertEqual((e.status, e.code, e.message), (status, code, 'why'))
            self.assertIn('why', str(e))

    def test_insufficient_credit(self):
        e = error_from_response(409, body('failed_precondition',
                                          'insufficient credit: escrow 300 > available 120'))
        self.assertIsInstance(e, mesh_sdk.InsufficientCredit)
        self.assertIsInstance(e, mesh_sdk.FailedPrecondition)
        self.assertIn('300', str(e))

    def test_undocumented_bodies_still_raise(self):
        e = error_from_response(502, b'<html>bad gateway</html>')
        self.assertIsInstance(e, mesh_sdk.Internal)
        self.assertIn('bad gateway', e.message)
        e = error_from_response(404, b'')
        self.assertIsInstance(e, mesh_sdk.NotFound)
        self.assertIn('empty', e.message)
        e = error_from_response(503, b'{"code": 7}')
        self.assertIsInstance(e, mesh_sdk.Unavailable)

    def test_unavailable_and_timeouts_are_builtin_kinds_too(self):
        self.assertTrue(issubclass(mesh_sdk.Unavailable, ConnectionError))
        self.assertTrue(issubclass(mesh_sdk.JobTimeout, TimeoutError))
        e = mesh_sdk.JobTimeout('bafkjob', 'running', 2.5)
        self.assertIn('bafkjob', str(e))
        self.assertIn('running', str(e))


if __name__ == '__main__':
    unittest.main()
