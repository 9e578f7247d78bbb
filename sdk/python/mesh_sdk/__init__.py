"""Mesh SDK: a Python client of a Mesh node's HTTP API (standard library only).

    from mesh_sdk import Client
    mesh = Client()                        # the node the `mesh` CLI would use
    job = mesh.wait(mesh.submit('hello.wasm').id, timeout=60)
    print(job.state, mesh.output(job.id))

See sdk/python/README.md. Errors are :class:`MeshError` subclasses (``mesh_sdk.errors``);
:mod:`mesh_sdk.split` has pure helpers that cut an input into parts; :mod:`mesh_sdk.split_job`
describes split/execute/merge jobs (:class:`SplitJob`) and checks their chunk proofs;
:func:`job` (:mod:`mesh_sdk.dsl`) turns a Python function into a job definition whose calls
return futures.

``mesh_sdk.job`` is that decorator; the :class:`Job` record stays importable from its module
(``from mesh_sdk.job import Job``) and from here.
"""

from .client import DEFAULT_URL, Client
from .errors import (AlreadyExists, BadResponse, DeadlineExceeded, FailedPrecondition,
                     InsufficientCredit, Internal, InvalidArgument, JobFailed, JobTimeout,
                     JobTypeError, JobValueError, MeshError, NotFound, PermissionDenied,
                     ResourceExhausted, Unauthenticated, Unavailable, Unimplemented)
from .job import TERMINAL_STATES, Job
from . import tree
from .split import split_bytes, split_lines, split_records
from .split_job import SplitJob, decode_frames, encode_frames, leaf_for_cid, verify_chunk_proof
# Last: binds mesh_sdk.job to the decorator (the submodule of the same name is loaded above).
from .dsl import JobDefinition, JobFuture, default_client, job, set_default_client  # noqa: E402

__all__ = [
    'Client', 'DEFAULT_URL', 'Job', 'TERMINAL_STATES', 'split_bytes', 'split_lines',
    'split_records', 'SplitJob', 'verify_chunk_proof', 'leaf_for_cid', 'encode_frames',
    'decode_frames', 'MeshError', 'InvalidArgument', 'Unauthenticated', 'PermissionDenied',
    'NotFound', 'FailedPrecondition', 'AlreadyExists', 'InsufficientCredit', 'ResourceExhausted',
    'Unimplemented', 'Unavailable', 'DeadlineExceeded', 'Internal', 'BadResponse', 'JobTimeout',
    'JobFailed', 'JobTypeError', 'JobValueError', 'job', 'JobDefinition', 'JobFuture',
    'default_client', 'set_default_client',
]
__version__ = '0.1.0'
