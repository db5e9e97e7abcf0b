"""A pickle opcode walker that never executes anything (pure, bounded).

`walk(data, start)` reads one pickle with `pickletools.genops` and runs a small stack
machine of plain values: ints, strings, tuples, `PList`, `PDict`; every GLOBAL becomes a
`Global` name (never imported); REDUCE/NEWOBJ/INST/OBJ of a name become `Call`s that only
record their arguments, except for the few torch rebuild functions, which the caller maps to
tensor records through `on_call` (a pure function of plain values). Persistent ids (torch's
storages) go through `on_persid`.

Bounds: opcodes, stack depth, marks, memo entries and container items are capped; every
violation, a pickle cut short or an unknown opcode is a `PickleError` with a one-line message.
A pickle that ends before STOP because the bytes given end there is `Truncated` (the caller
may fetch more bytes and walk again).
"""

from __future__ import annotations

import gc
import io
import pickletools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hubcensus.crawler.formats.safetensors import HeaderError

MAX_OPS = 40_000_000
MAX_STACK = 100_000
MAX_MARKS = 1_000
MAX_ITEMS = 30_000_000
"""Container items plus objects built, over the whole pickle: ~30 per tensor, so over a million tensors."""


class PickleError(HeaderError):
    """A torch checkpoint that cannot be trusted or read; the message is one line."""


class Truncated(PickleError):
    """The bytes given end before the pickle's STOP (`at`: bytes of the pickle seen)."""

    def __init__(self, message: str, at: int) -> None:
        super().__init__(message)
        self.at = at


@dataclass(frozen=True)
class Global:
    """A name a pickle refers to (`module.name`), never imported."""

    module: str
    name: str

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Call:
    """What REDUCE/NEWOBJ/INST/OBJ of a name would have built: the name, its arguments, BUILD state and items."""

    func: Any
    args: Any
    state: Any = None
    items: list[Any] = field(default_factory=list)


class PList(list):
    """A pickled list, set or frozenset."""

    __slots__ = ()


class PDict(dict):
    """A pickled dict or OrderedDict (keys made hashable by `hashable_key`)."""

    __slots__ = ()


class _Mark:
    __slots__ = ()


_MARK = _Mark()


def hashable_key(k: Any) -> Any:
    """A dict key as stored: plain scalars and tuples as themselves, anything else by identity."""
    if k is None or isinstance(k, str | int | float | bytes):
        return k
    if isinstance(k, tuple):
        try:
            hash(k)
            return k
        except TypeError:
            pass
    return ("<object>", id(k))


OnCall = Callable[[Global, Any], Any]
OnPersid = Callable[[Any], Any]


@dataclass
class Walked:
    """One walked pickle: the value STOP returned, the names it refers to and where it ended."""

    value: Any
    globals: list[str]
    end: int
    ops: int


def walk(data: bytes | memoryview, start: int, *, on_call: OnCall, on_persid: OnPersid) -> Walked:
    """Walk the pickle at `data[start:]` up to its STOP; raise `Truncated` if the bytes end first."""
    stream = io.BytesIO(data)
    stream.seek(start)
    state = _Machine(on_call, on_persid)
    ops = 0
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small containers: cyclic GC passes would dominate the time
    try:
        for opcode, arg, _pos in pickletools.genops(stream):
            ops += 1
            if ops > MAX_OPS:
                raise PickleError(f"pickle has more than {MAX_OPS:,} opcodes")
            if state.step(opcode.name, arg):
                return Walked(state.result, sorted(state.names), stream.tell(), ops)
    except PickleError:
        raise
    except (ValueError, EOFError, UnicodeDecodeError, OverflowError) as e:
        if stream.tell() >= len(data):
            raise Truncated(
                f"pickle cut short after {len(data) - start:,} bytes", len(data) - start
            ) from None
        raise PickleError(f"not a readable pickle ({_one_line(e)})") from None
    except RecursionError:
        raise PickleError("pickle nested too deeply") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    raise Truncated(f"pickle cut short after {len(data) - start:,} bytes", len(data) - start)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 120 else text[:117] + "..."


class _Machine:
    """The stack, memo and marks of one pickle; `step` returns True at STOP."""

    def __init__(self, on_call: OnCall, on_persid: OnPersid) -> None:
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.names: set[str] = set()
        self.items = 0
        self.result: Any = None
        self.on_call, self.on_persid = on_call, on_persid

    def push(self, value: Any) -> None:
        if len(self.stack) >= MAX_STACK:
            raise PickleError(f"pickle stack deeper than {MAX_STACK:,}")
        self.stack.append(value)

    def pop(self) -> Any:
        if not self.stack:
            raise PickleError("pickle pops an empty stack")
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise PickleError("pickle uses a MARK it never set")
        items = self.stack
        self.stack = self.marks.pop()
        return items

    def count(self, n: int) -> None:
        self.items += n
        if self.items > MAX_ITEMS:
            raise PickleError(f"pickle builds more than {MAX_ITEMS:,} container items")

    def name(self, module: Any, qualname: Any) -> Global:
        if not isinstance(module, str) or not isinstance(qualname, str):
            raise PickleError("pickle names a global that is not a string")
        g = Global(module, qualname)
        self.names.add(g.dotted)
        return g

    def call(self, func: Any, args: Any) -> Any:
        self.count(1)
        if isinstance(func, Global):
            return self.on_call(func, args)
        return Call(func, args)

    def step(self, op: str, arg: Any) -> bool:
        s = self.stack
        if op in _PUSH_ARG:
            self.push(arg)
        elif op in _CONST:
            self.push(_CONST[op])
        elif op == "STOP":
            self.result = self.pop()
            return True
        elif op in ("PROTO", "FRAME"):
            pass
        elif op == "MARK":
            if len(self.marks) >= MAX_MARKS:
                raise PickleError(f"pickle nests more than {MAX_MARKS:,} MARKs")
            self.marks.append(s)
            self.stack = []
        elif op in ("EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET", "EMPTY_TUPLE"):
            self.count(1)
            self.push(
                {"EMPTY_LIST": PList, "EMPTY_DICT": PDict, "EMPTY_SET": PList, "EMPTY_TUPLE": tuple}[op]()
            )
        elif op == "TUPLE":
            items = self.pop_mark()
            self.count(len(items))
            self.push(tuple(items))
        elif op in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(op[-1])
            if len(s) < n:
                raise PickleError(f"pickle {op} on a stack of {len(s)}")
            items = s[-n:]
            del s[-n:]
            self.count(n)
            self.push(tuple(items))
        elif op in ("LIST", "FROZENSET"):
            items = self.pop_mark()
            self.count(len(items))
            self.push(PList(items))
        elif op == "DICT":
            items = self.pop_mark()
            self.count(len(items))
            self.push(self._setitems(PDict(), items))
        elif op == "APPEND":
            value = self.pop()
            self._extend(self._top(op), [value])
        elif op in ("APPENDS", "ADDITEMS"):
            items = self.pop_mark()
            self._extend(self._top(op), items)
        elif op == "SETITEM":
            value, key = self.pop(), self.pop()
            self._setitems(self._top(op), [key, value])
        elif op == "SETITEMS":
            items = self.pop_mark()
            self._setitems(self._top(op), items)
        elif op == "POP":
            if s:
                s.pop()
            else:
                self.pop_mark()
        elif op == "POP_MARK":
            self.pop_mark()
        elif op == "DUP":
            self.push(self._top(op))
        elif op in ("PUT", "BINPUT", "LONG_BINPUT"):
            self._memoize(int(arg))
        elif op == "MEMOIZE":
            self._memoize(len(self.memo))
        elif op in ("GET", "BINGET", "LONG_BINGET"):
            key = int(arg)
            if key not in self.memo:
                raise PickleError(f"pickle reads memo {key} it never stored")
            self.push(self.memo[key])
        elif op == "GLOBAL":
            module, _, qualname = str(arg).partition(" ")
            self.push(self.name(module, qualname))
        elif op == "STACK_GLOBAL":
            qualname, module = self.pop(), self.pop()
            self.push(self.name(module, qualname))
        elif op == "REDUCE":
            args, func = self.pop(), self.pop()
            self.push(self.call(func, args))
        elif op == "NEWOBJ":
            args, cls = self.pop(), self.pop()
            self.push(self.call(cls, args))
        elif op == "NEWOBJ_EX":
            _kwargs, args, cls = self.pop(), self.pop(), self.pop()
            self.push(self.call(cls, args))
        elif op == "INST":
            module, _, qualname = str(arg).partition(" ")
            args = tuple(self.pop_mark())
            self.push(self.call(self.name(module, qualname), args))
        elif op == "OBJ":
            items = self.pop_mark()
            if not items:
                raise PickleError("pickle OBJ without a class")
            self.push(self.call(items[0], tuple(items[1:])))
        elif op == "BUILD":
            state = self.pop()
            obj = self._top(op)
            if isinstance(obj, Call):
                obj.state = state
        elif op == "PERSID":
            self.push(self.on_persid(arg))
        elif op == "BINPERSID":
            self.push(self.on_persid(self.pop()))
        else:  # EXT1/2/4, NEXT_BUFFER, READONLY_BUFFER: nothing a torch.save writes
            raise PickleError(f"pickle uses opcode {op}, which torch.save never writes")
        return False

    def _top(self, op: str) -> Any:
        if not self.stack:
            raise PickleError(f"pickle {op} on an empty stack")
        return self.stack[-1]

    def _memoize(self, key: int) -> None:
        if len(self.memo) >= MAX_STACK * 100 and key not in self.memo:
            raise PickleError("pickle memo too large")
        self.memo[key] = self._top("PUT")

    def _extend(self, target: Any, items: list[Any]) -> None:
        self.count(len(items))
        if isinstance(target, list):
            target.extend(items)
        elif isinstance(target, Call):
            target.items.extend(items)
        else:
            raise PickleError(f"pickle appends to a {type(target).__name__}")

    def _setitems(self, target: Any, items: list[Any]) -> Any:
        if len(items) % 2:
            raise PickleError("pickle SETITEMS with an odd number of items")
        self.count(len(items))
        if isinstance(target, dict):
            for i in range(0, len(items), 2):
                target[hashable_key(items[i])] = items[i + 1]
        elif isinstance(target, Call):
            target.items.extend(zip(items[::2], items[1::2], strict=True))
        else:
            raise PickleError(f"pickle sets items on a {type(target).__name__}")
        return target


_PUSH_ARG = frozenset(
    [
        "INT",
        "BININT",
        "BININT1",
        "BININT2",
        "LONG",
        "LONG1",
        "LONG4",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "BINBYTES",
        "SHORT_BINBYTES",
        "BINBYTES8",
        "BYTEARRAY8",
        "UNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
        "FLOAT",
        "BINFLOAT",
    ]
)
_CONST: dict[str, Any] = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
