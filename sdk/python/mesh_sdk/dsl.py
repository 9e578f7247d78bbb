"""The job DSL: a Python function becomes a job definition; calling it runs the job on a node.

    import mesh_sdk
    from mesh_sdk import SplitJob

    @mesh_sdk.job(module='wordcount.wasm', limits={'fuel': 10**9}, split=SplitJob.lines(4))
    def wordcount(text: str):
        return text.encode()                # the job's input (stdin)

    @wordcount.merge
    def total(outputs):                     # a split job: the chunk outputs, in order
        return [sum(int(o.split()[i]) for o in outputs) for i in range(3)]

    future = wordcount('to be or\\nnot to be\\n')   # submitted; returns at once
    print(future.result(timeout=60))         # [2, 6, 19]

The decorated function runs here, at call time, and only prepares what is sent: it returns the
job's inputs (bytes, a path, a CID, or a list of them; None for no input) or a dict with
``inputs`` and any of the spec's fields for this call (``args``, ``env``, ``limits``,
``labels``, ``split``...). Calling the definition checks the arguments against the function's
signature and annotations, runs the function, then submits, waits, fetches the output and
merges on a worker thread; it returns a :class:`JobFuture` (a ``concurrent.futures.Future``
whose ``cancel()`` cancels the job on the node).

Errors name what is wrong. Options are checked when the function is decorated and again for
what a call returns; arguments are checked at call time: :class:`~mesh_sdk.errors.JobTypeError`
(a TypeError) and :class:`~mesh_sdk.errors.JobValueError` (a ValueError), both
:class:`~mesh_sdk.errors.InvalidArgument`. A job that runs and does not succeed makes its
future raise :class:`~mesh_sdk.errors.JobFailed` with the node's reason.

Thread-safety: a definition is immutable once decorated (``options()``/``using()`` make new
ones; ``merge`` is set under a lock), every call keeps its state in its own future, the default
client is created once under a lock, and :class:`~mesh_sdk.client.Client` opens a connection
per request. One definition may be called from any number of threads at once.
"""

import collections.abc
import concurrent.futures
import functools
import inspect
import os
import queue
import threading
import typing

from . import errors
from .client import _CID_RE, Client
from .dsl_checks import (CHECKS, MAX_INPUTS, check_client, checked, hint_name, matches,
                         type_name)
from .errors import JobFailed, JobTypeError, JobValueError

__all__ = ['job', 'JobDefinition', 'JobFuture', 'default_client', 'set_default_client',
           'MAX_WORKERS']

MAX_WORKERS = 64  # jobs waited on at once; further calls queue here until a worker is free
# What the function may return in a dict, besides 'inputs'; dicts here are merged key by key
# over the definition's, the others replace it.
_CALL_FIELDS = ('module', 'args', 'env', 'limits', 'labels', 'priority', 'split', 'verification',
                'placement', 'requirements', 'deterministic', 'idempotency_key')
_MERGED_FIELDS = ('env', 'limits', 'labels', 'requirements')


# --- the default client and the workers -----------------------------------------------------------

_default_lock = threading.Lock()
_default = None


def default_client():
    """The client of definitions that were given none: ``Client()`` (the node the CLI would
    use), created on first use, once, whichever threads ask at the same time."""
    global _default
    client = _default
    if client is None:
        with _default_lock:
            if _default is None:
                _default = Client()
            client = _default
    return client


def set_default_client(client):
    """Replaces the default client (None: create ``Client()`` again on next use)."""
    global _default
    if client is not None:
        check_client('set_default_client: ', client)
    with _default_lock:
        _default = client


class _Workers:
    """Daemon threads that wait for jobs, created as needed up to ``MAX_WORKERS``. Daemons, so a
    script that ends without asking for a result ends (its jobs go on running on the node).

    Each task claims an idle worker or starts one (as ThreadPoolExecutor does), so a task never
    waits behind a long job while fewer than ``MAX_WORKERS`` threads exist.
    """

    def __init__(self):
        self._tasks = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0  # workers waiting for a task that no submit has claimed yet

    def submit(self, task):
        self._tasks.put(task)
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
            elif self._threads < MAX_WORKERS:
                self._threads += 1
                threading.Thread(target=self._work, name=f'mesh-job-{self._threads}',
                                 daemon=True).start()

    def _work(self):
        while True:
            self._tasks.get()()
            with self._lock:
                self._idle += 1


_workers = _Workers()


# --- the future -----------------------------------------------------------------------------------

class JobFuture(concurrent.futures.Future):
    """The result of one call of a job definition: the merged output, or the exception.

    A ``concurrent.futures.Future`` (``result(timeout)``, ``exception()``, ``done()``,
    ``add_done_callback``, ``concurrent.futures.wait``/``as_completed``) that also knows its
    job: ``job_id`` once submitted (``submitted()`` waits for it), ``job`` (the :class:`Job`
    record once it ended). ``cancel()`` cancels the job on the node.
    """

    def __init__(self, definition, client):
        super().__init__()
        self.definition = definition
        self.client = client
        self.job_id = None
        self.job = None
        self._state_lock = threading.Lock()  # job_id vs cancel: exactly one side sees the other
        self._cancel_requested = False
        self._submitted = threading.Event()

    def __repr__(self):
        return f'<JobFuture {self.definition.name!r} job={self.job_id} {self._state}>'

    def running(self):
        """True while the job is on the node (submitted, not ended)."""
        return self.job_id is not None and not self.done()

    def submitted(self, timeout=None):
        """Waits until the job is on the node and returns its id. Raises the submission's error
        if it could not be submitted, CancelledError if cancelled before, and TimeoutError."""
        if not self._submitted.wait(timeout):
            raise TimeoutError(f"job '{self.definition.name}' not submitted within {timeout:g} s")
        if self.job_id is None:
            if self.cancelled():
                raise concurrent.futures.CancelledError()
            raise self.exception()
        return self.job_id

    def cancel(self):
        """Cancels the call: the job on the node if it was submitted (or as soon as it is).
        True if cancelled; False if the job had already ended (its result stands)."""
        with self._state_lock:
            if self.done():
                return self.cancelled()
            self._cancel_requested = True
            job_id = self.job_id
        if job_id is not None:
            try:
                self.client.cancel(job_id)
            except (errors.FailedPrecondition, errors.NotFound):
                # It ended first. Unless someone else cancelled it, its result stands (the
                # worker sets it; a job that ends cancelled is left to this method).
                if self.client.job(job_id).state != 'cancelled':
                    return self.cancelled()
        if not super().cancel():
            return False
        super().set_running_or_notify_cancel()  # tells wait()/as_completed(), not just result()
        return True

    # Called by the worker.
    def _set_job_id(self, job_id):
        with self._state_lock:
            self.job_id = job_id
            cancel = self._cancel_requested
        self._submitted.set()
        return cancel

    def _finish(self, result=None, exception=None):
        try:
            if exception is not None:
                self.set_exception(exception)
            else:
                self.set_result(result)
        except concurrent.futures.InvalidStateError:
            pass  # cancelled meanwhile: the cancellation stands
        self._submitted.set()


# --- the definition -------------------------------------------------------------------------------

class JobDefinition:
    """A job made from a Python function by :func:`job`. Call it like the function to run the
    job; see the module's documentation. Immutable: :meth:`options` and :meth:`using` return
    new definitions that share the function and the merge."""

    def __init__(self, fn, name, options, root=None):
        self.fn = fn
        self.name = name
        self._options = options  # checked; never mutated
        self._root = root or self
        if root is None:
            self._merge = None
            self._merge_lock = threading.Lock()
            self._signature = inspect.signature(fn)
            try:
                self._hints = typing.get_type_hints(fn, include_extras=True)
            except Exception:  # an unresolvable forward reference: check what can be checked
                self._hints = {}
        functools.update_wrapper(self, fn)

    def __repr__(self):
        shown = {k: v for k, v in self._options.items()
                 if k in ('module', 'split', 'limits', 'verification')}
        return f'<mesh job {self.name!r} {shown}>'

    @property
    def module(self):
        return self._options['module']

    @property
    def signature(self):
        return self._root._signature

    @property
    def merge_fn(self):
        """The merge function, or None."""
        return self._root._merge

    def merge(self, fn):
        """Decorator: ``fn(outputs)`` post-processes the outputs here, after the job succeeded;
        what it returns is the future's result. A split job's ``outputs`` is the list of the
        chunk outputs in order (bytes each); a plain job's is its output (bytes). Returns ``fn``
        unchanged, so give it another name than the job's."""
        where = f"job '{self.name}': "
        if not callable(fn):
            raise JobTypeError(f'{where}merge must decorate a function, not {type_name(fn)}')
        try:
            inspect.signature(fn).bind(b'')
        except TypeError:
            raise JobTypeError(f'{where}merge function {getattr(fn, "__name__", fn)!r} must take '
                               'one argument (the outputs)') from None
        except ValueError:
            pass  # a builtin without a signature: trust it
        with self._root._merge_lock:
            self._root._merge = fn
        return fn

    def options(self, **overrides):
        """A new definition with some options replaced (checked now), e.g.
        ``wordcount.options(limits={'fuel': 10**10})(text)``. Same keywords as :func:`job`."""
        # (an idempotency key per definition would make every call the same job: per call only)
        unknown = set(overrides) - (set(CHECKS) - {'idempotency_key'}) - {'name'}
        if unknown:
            raise JobTypeError(f"job '{self.name}': options() got an unknown option "
                               f'{sorted(unknown)[0]!r}')
        name = overrides.pop('name', self.name)
        if not isinstance(name, str) or not name:
            raise JobTypeError(f"job '{self.name}': name must be a non-empty str, not {name!r}")
        options = dict(self._options)
        for key, value in overrides.items():
            if value is None:
                options.pop(key, None)
        options.update(checked(f"job '{name}': ", overrides))
        if 'module' not in options:
            raise JobTypeError(f"job '{name}': module is required")
        return JobDefinition(self.fn, name, options, self._root)

    def using(self, client):
        """This definition submitting through ``client``."""
        return self.options(client=client)

    # --- a call -------------------------------------------------------------------------------

    def _bind(self, args, kwargs):
        where = f"job '{self.name}': "
        sig = self.signature
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as e:
            message = str(e)
            if message.startswith('too many positional'):
                names = [p.name for p in sig.parameters.values()
                         if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
                message = (f'takes {len(names)} positional argument(s) '
                           f'({", ".join(names) or "none"}) but {len(args)} were given')
            raise JobTypeError(where + message) from None
        bound.apply_defaults()
        hints = self._root._hints
        for pname, value in bound.arguments.items():
            hint = hints.get(pname)
            if hint is None:
                continue
            kind = sig.parameters[pname].kind
            items = (value.items() if kind is inspect.Parameter.VAR_KEYWORD else
                     enumerate(value) if kind is inspect.Parameter.VAR_POSITIONAL else
                     [(None, value)])
            for key, item in items:
                if not matches(item, hint):
                    label = (f"'{pname}'" if key is None else
                             f'{pname}[{key!r}]' if isinstance(key, str) else f'{pname}[{key}]')
                    raise JobTypeError(f'{where}parameter {label} must be {hint_name(hint)}, '
                                       f'got {type_name(item)} ({item!r:.60})')
        return bound

    def prepare(self, *args, **kwargs):
        """What a call with these arguments would submit, without submitting: the keyword
        arguments of :meth:`Client.submit` (``module``, ``inputs``, ``args``, ``limits``...),
        after every check. Runs the decorated function; does no I/O."""
        bound = self._bind(args, kwargs)
        try:
            returned = self.fn(*bound.args, **bound.kwargs)
        except Exception as e:
            e.add_note(f"(raised by job '{self.name}' while preparing its inputs)")
            raise
        return self._request(returned)

    def _request(self, returned):
        where = f"job '{self.name}': "
        spec = {k: v for k, v in self._options.items() if k not in ('client', 'timeout')}
        if isinstance(returned, collections.abc.Mapping):
            unknown = [k for k in returned if k != 'inputs' and k not in _CALL_FIELDS]
            if unknown:
                raise JobValueError(f'{where}the function returned a dict with {unknown[0]!r}, '
                                    f'which is not inputs or one of {", ".join(_CALL_FIELDS)}')
            fields = checked(f'{where}the returned ', {k: v for k, v in returned.items()
                                                         if k != 'inputs'})
            for key, value in fields.items():
                spec[key] = {**spec[key], **value} if key in _MERGED_FIELDS and key in spec \
                    else value
            inputs = returned.get('inputs')
        else:
            inputs = returned
        spec['inputs'] = self._inputs(where, inputs)
        return spec

    @staticmethod
    def _inputs(where, inputs):
        if inputs is None:
            return []
        if isinstance(inputs, (str, bytes, bytearray, memoryview, os.PathLike)):
            inputs = [inputs]
        elif not isinstance(inputs, (list, tuple)):
            raise JobTypeError(f'{where}the function must return the inputs (bytes, a path, a CID,'
                               ' a list of them, or a dict with "inputs"), not '
                               f'{type_name(inputs)}')
        if len(inputs) > MAX_INPUTS:
            raise JobValueError(f'{where}{len(inputs)} inputs, more than {MAX_INPUTS} (join them '
                                'or use a split job)')
        out = []
        for i, item in enumerate(inputs):
            if isinstance(item, (bytes, bytearray, memoryview)):
                out.append(bytes(item))
                continue
            if isinstance(item, os.PathLike):
                item = os.fspath(item)
            if not isinstance(item, str):
                raise JobTypeError(f'{where}inputs[{i}] must be bytes, a path or a CID, not '
                                   f'{type_name(item)}')
            if os.path.isfile(item):
                item = os.path.abspath(item)
            elif not _CID_RE.match(item):
                raise JobValueError(f'{where}inputs[{i}] {item!r:.60} is neither an existing file '
                                    'nor a CID (to send text, return it encoded: text.encode())')
            out.append(item)
        return out

    def __call__(self, *args, **kwargs):
        """Checks the arguments, prepares the inputs, and submits the job on a worker thread;
        returns its :class:`JobFuture` at once."""
        spec = self.prepare(*args, **kwargs)
        client = self._options.get('client') or default_client()
        future = JobFuture(self, client)
        merge = self.merge_fn
        timeout = self._options.get('timeout')
        _workers.submit(lambda: self._run(future, client, spec, merge, timeout))
        return future

    submit = __call__

    def _run(self, future, client, spec, merge, timeout):
        try:
            if future.cancelled():
                return
            submitted = client.submit(**spec)
            if future._set_job_id(submitted.id):
                _cancel_quietly(client, submitted.id)  # cancel() came during the submission
                return
            try:
                done = client.wait(submitted.id, timeout=timeout)
            except errors.JobTimeout:
                _cancel_quietly(client, submitted.id)  # a definition's timeout is a deadline
                raise
            future.job = done
            if future.cancelled() or (done.state == 'cancelled' and future._cancel_requested):
                return  # cancel() marks the future
            if not done.ok:
                raise JobFailed(done, self.name)
            if merge is not None and 'split' in spec:
                chunks = sorted(client.chunks(done.id)['chunks'], key=lambda c: c['index'])
                outputs = [client.get_blob(c['output_cid']) for c in chunks]
            else:
                outputs = client.output(done.id)
            if merge is None:
                future._finish(result=outputs)
                return
            try:
                result = merge(outputs)
            except Exception as e:
                e.add_note(f"(raised by the merge of job '{self.name}' ({done.id}))")
                raise
            future._finish(result=result)
        except BaseException as e:  # everything goes to the caller through the future
            future._finish(exception=e)
        finally:
            future._submitted.set()


def _cancel_quietly(client, job_id):
    try:
        client.cancel(job_id)
    except errors.MeshError:
        pass  # ended meanwhile, or the node went away: nothing left to cancel


def job(fn=None, *, module, limits=None, verification=None, split=None, args=None, env=None,
        placement=None, requirements=None, priority=None, labels=None, deterministic=None,
        timeout=None, client=None, name=None):
    """Decorator: turns a function that prepares a job's inputs into a :class:`JobDefinition`.

    ``module`` (required): the WASM module, a path, a CID or bytes. ``limits`` (fuel,
    memory_bytes, wall_time_ms, max_output_bytes; positive ints), ``verification`` (none, hash,
    adaptive, replicate(k)), ``split`` (a :class:`SplitJob`), ``args``, ``env``, ``placement``,
    ``requirements``, ``priority``, ``labels``, ``deterministic``: the job spec, as
    :meth:`Client.submit` takes them. ``timeout``: seconds to wait for the job before its future
    raises JobTimeout (the job is then cancelled). ``client``: the node (default: a shared
    ``Client()`` made on first use). ``name``: for errors (default: the function's name).
    Every option is checked here; a bad one raises JobTypeError/JobValueError naming it.
    """
    if name is not None and (not isinstance(name, str) or not name):
        raise JobTypeError(f'job(): name must be a non-empty str, not {name!r}')
    options = dict(module=module, limits=limits, verification=verification, split=split,
                   args=args, env=env, placement=placement, requirements=requirements,
                   priority=priority, labels=labels, deterministic=deterministic,
                   timeout=timeout, client=client)

    def decorate(f):
        if not callable(f) or isinstance(f, type):
            raise JobTypeError(f"job({name or ''!r}): @job must decorate a function, not "
                               f'{type_name(f)}')
        if inspect.iscoroutinefunction(f) or inspect.isgeneratorfunction(f):
            raise JobTypeError(f'job(): {f.__name__!r} must be a plain function that returns the '
                               'inputs, not a coroutine or generator function')
        fname = name or f.__name__
        valid = checked(f"job '{fname}': ", options)
        if 'module' not in valid:
            raise JobTypeError(f"job '{fname}': module is required (a path, a CID or bytes)")
        return JobDefinition(f, fname, valid)

    return decorate if fn is None else decorate(fn)
