"""Exceptions of the Mesh SDK.

Every error the node answers is a JSON object ``{"code", "message"}`` with a matching HTTP status
(see src/api/openapi.json). The SDK turns each into a subclass of :class:`MeshError` chosen by its
``code`` (falling back on the status), so callers can catch what they can handle (``NotFound``,
``InsufficientCredit``...) and let the rest propagate with the node's own message. Problems that
never reach the node (it is not running, the connection broke) are :class:`Unavailable`, with
status 0, so "is the node there?" has one answer whatever the cause.
"""

__all__ = [
    'MeshError', 'InvalidArgument', 'Unauthenticated', 'PermissionDenied', 'NotFound',
    'FailedPrecondition', 'AlreadyExists', 'InsufficientCredit', 'ResourceExhausted',
    'Unimplemented', 'Unavailable', 'DeadlineExceeded', 'Internal', 'BadResponse', 'JobTimeout',
    'JobFailed', 'JobTypeError', 'JobValueError', 'error_from_response',
]


class MeshError(Exception):
    """An error from (or about) a Mesh node.

    ``status`` is the HTTP status (0 when no answer came), ``code`` the API's error code
    (e.g. ``not_found``) and ``message`` its human-readable explanation.
    """

    def __init__(self, status, code, message):
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f'{code} (HTTP {status}): {message}' if status else f'{code}: {message}')


class InvalidArgument(MeshError):
    """The request was malformed (400), too large (413) or asked for a bad range (416)."""


class Unauthenticated(MeshError):
    """The bearer token is missing or not this node's (401)."""


class PermissionDenied(MeshError):
    """The node refused the request (403)."""


class NotFound(MeshError):
    """No such job or blob on this node, or a route it does not serve (404)."""


class FailedPrecondition(MeshError):
    """The request is valid but not now (409): e.g. a module not uploaded, a job already ended."""


class AlreadyExists(FailedPrecondition):
    """409 ``already_exists``."""


class InsufficientCredit(FailedPrecondition):
    """409: the submitter's credits do not cover the escrow of a market job (the message names
    the amounts; lower max_price or the replica count, or wait for credits to regenerate)."""


class ResourceExhausted(MeshError):
    """The node's blob store or a quota is full (507)."""


class Unimplemented(MeshError):
    """The node does not implement this (501)."""


class Unavailable(MeshError, ConnectionError):
    """The node cannot be reached (status 0) or is shutting down / overloaded (503)."""


class DeadlineExceeded(MeshError, TimeoutError):
    """A request got no answer in time (status 0), or the node gave up waiting (504)."""


class Internal(MeshError):
    """Any other error status (500...)."""


class BadResponse(MeshError):
    """The node answered something this SDK cannot understand (not the documented JSON)."""


class JobTimeout(MeshError, TimeoutError):
    """:meth:`Client.wait` gave up before the job ended. ``job_id`` and ``state`` (its last known
    state) say which job and how far it got; the job itself keeps running."""

    def __init__(self, job_id, state, timeout):
        self.job_id = job_id
        self.state = state
        self.timeout = timeout
        super().__init__(0, 'deadline_exceeded',
                         f'job {job_id} has not ended after {timeout:g} s (still {state})')


class JobTypeError(InvalidArgument, TypeError):
    """A job definition (:func:`mesh_sdk.job`) was given an option or an argument of the wrong
    type, found here before anything is sent (status 0). The message names the job and the
    parameter or option (``job 'wordcount': parameter 'text' must be str, got int``). Also a
    TypeError, so ``except TypeError`` catches it like any other bad call."""

    def __init__(self, message):
        super().__init__(0, 'invalid_argument', message)

    def __str__(self):
        return self.message  # found here, not an HTTP answer: the message alone


class JobValueError(InvalidArgument, ValueError):
    """A job definition was given an option or an argument with a bad value (a negative fuel
    limit, an unknown verification, a path that does not exist...), found here before anything
    is sent (status 0). The message names the job and the parameter or option. Also a
    ValueError."""

    def __init__(self, message):
        super().__init__(0, 'invalid_argument', message)

    def __str__(self):
        return self.message  # found here, not an HTTP answer: the message alone


class JobFailed(MeshError):
    """A job ran and did not succeed: it failed (a trap, an exit code, a limit...) or was
    cancelled on the node. Raised by the futures of job definitions (:func:`mesh_sdk.job`);
    :meth:`Client.wait` returns such a job instead. ``job`` is its last :class:`Job` record;
    ``job_id``, ``state``, ``outcome``, ``reason`` and ``exit_code`` are copied from it and
    ``name`` is the definition's name."""

    def __init__(self, job, name=None):
        self.job = job
        self.name = name
        self.job_id, self.state, self.outcome = job.id, job.state, job.outcome
        self.reason, self.exit_code = job.reason, job.exit_code
        what = f"job '{name}' ({job.id})" if name else f'job {job.id}'
        detail = job.reason or job.outcome or 'the node gave no reason'
        if job.outcome and job.reason and job.outcome not in job.reason:
            detail = f'{job.outcome}: {job.reason}'
        if job.exit_code not in (None, 0):
            detail += f' (exit code {job.exit_code})'
        super().__init__(0, 'job_' + job.state, f'{what} {job.state}: {detail}')


_BY_CODE = {
    'invalid_argument': InvalidArgument,
    'payload_too_large': InvalidArgument,
    'range_not_satisfiable': InvalidArgument,
    'header_too_large': InvalidArgument,
    'unauthenticated': Unauthenticated,
    'permission_denied': PermissionDenied,
    'not_found': NotFound,
    'method_not_allowed': NotFound,
    'failed_precondition': FailedPrecondition,
    'already_exists': AlreadyExists,
    'resource_exhausted': ResourceExhausted,
    'unimplemented': Unimplemented,
    'unavailable': Unavailable,
    'deadline_exceeded': DeadlineExceeded,
}

_BY_STATUS = {400: InvalidArgument, 401: Unauthenticated, 403: PermissionDenied, 404: NotFound,
              405: NotFound, 409: FailedPrecondition, 413: InvalidArgument,
              416: InvalidArgument, 431: InvalidArgument, 501: Unimplemented, 503: Unavailable,
              504: DeadlineExceeded, 507: ResourceExhausted}


def error_from_response(status, body):
    """The exception for an error answer: ``body`` is the raw bytes the node sent.

    A body that is not the documented ``{"code", "message"}`` object still gives an error (never
    a silent success), with the raw text as its message.
    """
    import json
    code = message = None
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            code, message = parsed.get('code'), parsed.get('message')
    except ValueError:
        pass
    if not isinstance(code, str) or not isinstance(message, str):
        text = body[:500].decode('utf-8', 'replace') if body else '(empty body)'
        cls = _BY_STATUS.get(status, Internal)
        return cls(status, 'internal' if cls is Internal else _code_of(cls), text)
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status, Internal)
    if cls is FailedPrecondition and 'insufficient credit' in message:
        cls = InsufficientCredit
    return cls(status, code, message)


def _code_of(cls):
    for code, c in _BY_CODE.items():
        if c is cls:
            return code
    return 'internal'
