"""The checks of the job DSL (:mod:`mesh_sdk.dsl`): options, and arguments against annotations.

Each check (``CHECKS[option](where, value)``) returns the value to use or raises
:class:`~mesh_sdk.errors.JobTypeError` / :class:`~mesh_sdk.errors.JobValueError` with ``where``
(e.g. ``"job 'wordcount': "``) before the option's name, so every message names the job and the
thing that is wrong. Pure functions: no I/O, except that a path is checked to be a file.
"""

import collections.abc
import inspect
import os
import re
import types
import typing

from .client import _CID_RE
from .errors import JobTypeError, JobValueError
from .split_job import SplitJob

__all__ = ['CHECKS', 'checked', 'check_client', 'matches', 'hint_name', 'type_name',
           'LIMIT_KEYS', 'REQUIREMENT_KEYS', 'MAX_INPUTS', 'MAX_ARGS']

LIMIT_KEYS = ('fuel', 'memory_bytes', 'wall_time_ms', 'max_output_bytes')
REQUIREMENT_KEYS = ('cpu_cores', 'memory_bytes', 'storage_bytes', 'capabilities', 'federations',
                    'trust_scope', 'min_reputation', 'max_price')
MAX_INPUTS, MAX_ARGS = 64, 256  # the API's limits (openapi.json JobRequest)
_VERIFICATION_RE = re.compile(r'^(none|hash|adaptive|replicate\(([1-9])\))$')


def type_name(value):
    return type(value).__name__


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


# --- option checks: each takes (where, value) and returns the value to use -----------------------

def _check_module(where, value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        if not len(value):
            raise JobValueError(f'{where}module is empty bytes (pass a WASM module, a path or '
                                'a CID)')
        return bytes(value)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise JobTypeError(f'{where}module must be a path, a CID or bytes, not {type_name(value)}')
    if os.path.isfile(value):
        return os.path.abspath(value)  # the file decorated, whatever the directory at call time
    if _CID_RE.match(value):
        return value
    raise JobValueError(f'{where}module {value!r} is neither an existing file nor a CID')


def _check_limits(where, value):
    if not isinstance(value, collections.abc.Mapping):
        raise JobTypeError(f'{where}limits must be a dict with keys among {", ".join(LIMIT_KEYS)},'
                           f' not {type_name(value)}')
    out = {}
    for key, amount in value.items():
        if key not in LIMIT_KEYS:
            raise JobValueError(f'{where}limits[{key!r}] is not a limit (use '
                                f'{", ".join(LIMIT_KEYS)})')
        if not _is_int(amount):
            raise JobTypeError(f'{where}limits[{key!r}] must be a positive int, not '
                               f'{type_name(amount)}')
        if amount < 1:
            raise JobValueError(f'{where}limits[{key!r}] must be a positive int, got {amount} '
                                "(leave it out for the node's default)")
        if key == 'memory_bytes' and amount > 4 << 30:
            raise JobValueError(f"{where}limits['memory_bytes'] is {amount}, above the 4 GiB a "
                                'wasm32 module can address')
        out[key] = amount
    return out


def _check_verification(where, value):
    if not isinstance(value, str):
        raise JobTypeError(f'{where}verification must be a str, not {type_name(value)}')
    if not _VERIFICATION_RE.match(value):
        raise JobValueError(f'{where}verification {value!r} is not one of none, hash, adaptive, '
                            'replicate(k) with k in 1..9')
    return value


def _check_split(where, value):
    if not isinstance(value, SplitJob):
        raise JobTypeError(f'{where}split must be a SplitJob (e.g. SplitJob.lines(4)), not '
                           f'{type_name(value)}')
    return value


def _check_args(where, value):
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise JobTypeError(f'{where}args must be a list of str, not {type_name(value)}'
                           + (" (wrap it: ['...'])" if isinstance(value, str) else ''))
    if len(value) > MAX_ARGS:
        raise JobValueError(f'{where}args has {len(value)} items, more than {MAX_ARGS}')
    for i, arg in enumerate(value):
        if isinstance(arg, bool) or not isinstance(arg, (str, int, float)):
            raise JobTypeError(f'{where}args[{i}] must be a str (or a number), not '
                               f'{type_name(arg)}')
    return [str(a) for a in value]


def _check_str_dict(name):
    def check(where, value):
        if not isinstance(value, collections.abc.Mapping):
            raise JobTypeError(f'{where}{name} must be a dict of str to str, not '
                               f'{type_name(value)}')
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise JobTypeError(f'{where}{name} keys must be non-empty str, got {key!r}')
            if name == 'env' and '=' in key:
                raise JobValueError(f"{where}env[{key!r}]: a variable name cannot contain '='")
            if not isinstance(item, str):
                raise JobTypeError(f'{where}{name}[{key!r}] must be a str, not {type_name(item)}')
        return dict(value)
    return check


def _check_priority(where, value):
    if not _is_int(value):
        raise JobTypeError(f'{where}priority must be an int, not {type_name(value)}')
    if not -100 <= value <= 100:
        raise JobValueError(f'{where}priority must be in -100..100, got {value}')
    return value


def _check_placement(where, value):
    if value not in ('auto', 'local', 'remote'):
        raise JobValueError(f"{where}placement must be 'auto', 'local' or 'remote', got {value!r}")
    return value


def _check_requirements(where, value):
    if not isinstance(value, collections.abc.Mapping):
        raise JobTypeError(f'{where}requirements must be a dict, not {type_name(value)}')
    for key in value:
        if key not in REQUIREMENT_KEYS:
            raise JobValueError(f'{where}requirements[{key!r}] is not a requirement (use '
                                f'{", ".join(REQUIREMENT_KEYS)})')
    return dict(value)


def _check_bool(name):
    def check(where, value):
        if not isinstance(value, bool):
            raise JobTypeError(f'{where}{name} must be True or False, not {type_name(value)}')
        return value
    return check


def _check_timeout(where, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise JobTypeError(f'{where}timeout must be a number of seconds, not {type_name(value)}')
    if not value > 0:
        raise JobValueError(f'{where}timeout must be more than 0 seconds, got {value}')
    return value


def check_client(where, value):
    missing = [m for m in ('submit', 'wait', 'output', 'cancel', 'chunks', 'get_blob')
               if not callable(getattr(value, m, None))]
    if missing:
        raise JobTypeError(f'{where}client must be a mesh_sdk.Client, not {type_name(value)}')
    return value


def _check_idempotency_key(where, value):
    if not isinstance(value, str) or not value:
        raise JobTypeError(f'{where}idempotency_key must be a non-empty str, not {value!r}')
    return value


CHECKS = {
    'module': _check_module, 'limits': _check_limits, 'verification': _check_verification,
    'split': _check_split, 'args': _check_args, 'env': _check_str_dict('env'),
    'labels': _check_str_dict('labels'), 'priority': _check_priority,
    'placement': _check_placement, 'requirements': _check_requirements,
    'deterministic': _check_bool('deterministic'), 'timeout': _check_timeout,
    'client': check_client, 'idempotency_key': _check_idempotency_key,
}


def checked(where, options):
    """The options that are set (not None), each checked; raises naming the first bad one."""
    return {k: CHECKS[k](where, v) for k, v in options.items() if v is not None}


# --- annotations ----------------------------------------------------------------------------------

def matches(value, hint):
    """Whether ``value`` fits the annotation ``hint``, checked shallowly (``list[str]`` checks
    for a list). Annotations this cannot check (strings, TypeVars, protocols...) accept."""
    if hint is typing.Any or hint is inspect.Parameter.empty:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is typing.Annotated:
        return matches(value, typing.get_args(hint)[0])
    target = origin if isinstance(origin, type) else hint
    if not isinstance(target, type):
        return True
    if target is float and _is_int(value):
        return True  # PEP 484: an int is acceptable where a float is expected
    try:
        return isinstance(value, target)
    except TypeError:  # e.g. a Protocol that is not runtime_checkable
        return True


def hint_name(hint):
    return hint.__name__ if isinstance(hint, type) else repr(hint).replace('typing.', '')
