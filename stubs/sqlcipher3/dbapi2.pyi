# Typed stub of sqlcipher3.dbapi2: pysqlite's DB-API 2.0 module built against SQLCipher.
#
# It mirrors typeshed's stdlib/sqlite3 stub (the C module is the same pysqlite code) for Python
# 3.11, with sqlcipher3's own additions (flags/vfs on connect, open_blob, set_key/reset_key,
# set_busy_handler/set_busy_timeout). Its classes are declared here, not re-exported from sqlite3,
# because at run time they are different classes: `except sqlite3.DatabaseError` does not catch
# an error raised by sqlcipher3, and mypy should not pretend it does.
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, time
from types import TracebackType
from typing import Any, Final, Literal, Self, SupportsIndex, TypeAlias, TypeVar, final, overload

from _typeshed import ReadableBuffer, StrOrBytesPath, SupportsLenAndGetItem
from typing_extensions import disjoint_base

paramstyle: Final[str]
threadsafety: Final[int]
apilevel: Final[str]
Date = date
Time = time
Timestamp = datetime

def DateFromTicks(ticks: float) -> date: ...
def TimeFromTicks(ticks: float) -> time: ...
def TimestampFromTicks(ticks: float) -> datetime: ...

version: str
version_info: tuple[int, int, int]
sqlite_version: str
sqlite_version_info: tuple[int, int, int]
Binary = memoryview

PARSE_COLNAMES: Final[int]
PARSE_DECLTYPES: Final[int]
SQLITE_OK: Final[int]
SQLITE_DENY: Final[int]
SQLITE_IGNORE: Final[int]
SQLITE_ERROR: Final[int]
SQLITE_BUSY: Final[int]
SQLITE_LOCKED: Final[int]
SQLITE_READONLY: Final[int]
SQLITE_IOERR: Final[int]
SQLITE_CORRUPT: Final[int]
SQLITE_FULL: Final[int]
SQLITE_CANTOPEN: Final[int]
SQLITE_NOTADB: Final[int]
SQLITE_ABORT: Final[int]
SQLITE_ALTER_TABLE: Final[int]
SQLITE_ANALYZE: Final[int]
SQLITE_ATTACH: Final[int]
SQLITE_AUTH: Final[int]
SQLITE_CONSTRAINT: Final[int]
SQLITE_CREATE_INDEX: Final[int]
SQLITE_CREATE_TABLE: Final[int]
SQLITE_CREATE_TEMP_INDEX: Final[int]
SQLITE_CREATE_TEMP_TABLE: Final[int]
SQLITE_CREATE_TEMP_TRIGGER: Final[int]
SQLITE_CREATE_TEMP_VIEW: Final[int]
SQLITE_CREATE_TRIGGER: Final[int]
SQLITE_CREATE_VIEW: Final[int]
SQLITE_CREATE_VTABLE: Final[int]
SQLITE_DELETE: Final[int]
SQLITE_DETACH: Final[int]
SQLITE_DONE: Final[int]
SQLITE_DROP_INDEX: Final[int]
SQLITE_DROP_TABLE: Final[int]
SQLITE_DROP_TEMP_INDEX: Final[int]
SQLITE_DROP_TEMP_TABLE: Final[int]
SQLITE_DROP_TEMP_TRIGGER: Final[int]
SQLITE_DROP_TEMP_VIEW: Final[int]
SQLITE_DROP_TRIGGER: Final[int]
SQLITE_DROP_VIEW: Final[int]
SQLITE_DROP_VTABLE: Final[int]
SQLITE_EMPTY: Final[int]
SQLITE_FORMAT: Final[int]
SQLITE_FUNCTION: Final[int]
SQLITE_INSERT: Final[int]
SQLITE_INTERNAL: Final[int]
SQLITE_INTERRUPT: Final[int]
SQLITE_MISMATCH: Final[int]
SQLITE_MISUSE: Final[int]
SQLITE_NOLFS: Final[int]
SQLITE_NOMEM: Final[int]
SQLITE_NOTFOUND: Final[int]
SQLITE_OPEN_CREATE: Final[int]
SQLITE_OPEN_FULLMUTEX: Final[int]
SQLITE_OPEN_MEMORY: Final[int]
SQLITE_OPEN_NOMUTEX: Final[int]
SQLITE_OPEN_PRIVATECACHE: Final[int]
SQLITE_OPEN_READONLY: Final[int]
SQLITE_OPEN_READWRITE: Final[int]
SQLITE_OPEN_SHAREDCACHE: Final[int]
SQLITE_OPEN_URI: Final[int]
SQLITE_PERM: Final[int]
SQLITE_PRAGMA: Final[int]
SQLITE_PROTOCOL: Final[int]
SQLITE_RANGE: Final[int]
SQLITE_READ: Final[int]
SQLITE_RECURSIVE: Final[int]
SQLITE_REINDEX: Final[int]
SQLITE_ROW: Final[int]
SQLITE_SAVEPOINT: Final[int]
SQLITE_SCHEMA: Final[int]
SQLITE_SELECT: Final[int]
SQLITE_TOOBIG: Final[int]
SQLITE_TRANSACTION: Final[int]
SQLITE_UPDATE: Final[int]

_T = TypeVar("_T")
_CursorT = TypeVar("_CursorT", bound=Cursor)
_SqliteData: TypeAlias = str | ReadableBuffer | int | float | None
# Data that passes through adapters can be of any type an adapter accepts.
_AdaptedInputData: TypeAlias = _SqliteData | Any
# The Mapping must really be a dict, but making it invariant is too strict for callers.
_Parameters: TypeAlias = SupportsLenAndGetItem[_AdaptedInputData] | Mapping[str, _AdaptedInputData]
# pysqlite's legacy transaction control; "" (the default) is DEFERRED, None is autocommit.
_IsolationLevel: TypeAlias = Literal["", "DEFERRED", "EXCLUSIVE", "IMMEDIATE"] | None
_RowFactoryOptions: TypeAlias = type[Row] | Callable[[Cursor, tuple[Any, ...]], object] | None

def connect(
    database: StrOrBytesPath,
    timeout: float = 5.0,
    detect_types: int = 0,
    isolation_level: _IsolationLevel = "",
    check_same_thread: bool = True,
    factory: type[Connection] | None = ...,
    cached_statements: int = 128,
    uri: bool = False,
    flags: int = ...,
    vfs: str | None = None,
) -> Connection: ...
def complete_statement(statement: str) -> bool: ...
def enable_callback_tracebacks(enable: bool, /) -> None: ...
def enable_shared_cache(enable: int) -> None: ...
def register_adapter(type: type[_T], adapter: Callable[[_T], _SqliteData], /) -> None: ...
def register_converter(typename: str, converter: Callable[[bytes], Any], /) -> None: ...
def adapt(obj: Any, proto: Any = ..., alt: _T = ..., /) -> Any: ...

adapters: dict[tuple[type[Any], type[Any]], Callable[[Any], Any]]
converters: dict[str, Callable[[bytes], Any]]

class Error(Exception):
    # Set on every error the C module raises (absent on one made by hand, hence getattr in callers).
    sqlite_errorcode: int
    sqlite_errorname: str

class DatabaseError(Error): ...
class DataError(DatabaseError): ...
class IntegrityError(DatabaseError): ...
class InterfaceError(Error): ...
class InternalError(DatabaseError): ...
class NotSupportedError(DatabaseError): ...
class OperationalError(DatabaseError): ...
class ProgrammingError(DatabaseError): ...
class Warning(Exception): ...

@disjoint_base
class Connection:
    @property
    def DataError(self) -> type[DataError]: ...
    @property
    def DatabaseError(self) -> type[DatabaseError]: ...
    @property
    def Error(self) -> type[Error]: ...
    @property
    def IntegrityError(self) -> type[IntegrityError]: ...
    @property
    def InterfaceError(self) -> type[InterfaceError]: ...
    @property
    def InternalError(self) -> type[InternalError]: ...
    @property
    def NotSupportedError(self) -> type[NotSupportedError]: ...
    @property
    def OperationalError(self) -> type[OperationalError]: ...
    @property
    def ProgrammingError(self) -> type[ProgrammingError]: ...
    @property
    def Warning(self) -> type[Warning]: ...
    @property
    def in_transaction(self) -> bool: ...
    isolation_level: _IsolationLevel
    @property
    def total_changes(self) -> int: ...
    row_factory: _RowFactoryOptions
    text_factory: Any
    def __init__(
        self,
        database: StrOrBytesPath,
        timeout: float = 5.0,
        detect_types: int = 0,
        isolation_level: _IsolationLevel = "",
        check_same_thread: bool = True,
        factory: type[Connection] | None = ...,
        cached_statements: int = 128,
        uri: bool = False,
        flags: int = ...,
        vfs: str | None = None,
    ) -> None: ...
    def close(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def create_aggregate(self, name: str, n_arg: int, aggregate_class: Callable[[], Any]) -> None: ...
    def create_window_function(
        self, name: str, num_params: int, aggregate_class: Callable[[], Any] | None, /
    ) -> None: ...
    def create_collation(self, name: str, callback: Callable[[str, str], SupportsIndex] | None, /) -> None: ...
    def create_function(
        self, name: str, narg: int, func: Callable[..., _SqliteData] | None, *, deterministic: bool = False
    ) -> None: ...
    @overload
    def cursor(self, factory: None = None) -> Cursor: ...
    @overload
    def cursor(self, factory: Callable[[Connection], _CursorT]) -> _CursorT: ...
    def execute(self, sql: str, parameters: _Parameters = ..., /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Iterable[_Parameters], /) -> Cursor: ...
    def executescript(self, sql_script: str, /) -> Cursor: ...
    def interrupt(self) -> None: ...
    def set_authorizer(
        self, authorizer_callback: Callable[[int, str | None, str | None, str | None, str | None], int] | None
    ) -> None: ...
    def set_progress_handler(self, progress_handler: Callable[[], int | None] | None, n: int) -> None: ...
    def set_trace_callback(self, trace_callback: Callable[[str], object] | None) -> None: ...
    def set_busy_handler(self, busy_handler: Callable[[int], bool | int] | None) -> None: ...
    def set_busy_timeout(self, timeout: float) -> None: ...
    def set_key(self, key: str | bytes) -> None: ...
    def reset_key(self, key: str | bytes) -> None: ...
    def enable_load_extension(self, enable: bool, /) -> None: ...
    def load_extension(self, name: str, /) -> None: ...
    def open_blob(self, table: str, column: str, row: int, readonly: bool = False, dbname: str = "main") -> Any: ...
    def backup(
        self,
        target: Connection,
        *,
        pages: int = -1,
        progress: Callable[[int, int, int], object] | None = None,
        name: str = "main",
        sleep: float = 0.25,
    ) -> None: ...
    def __call__(self, sql: str, /) -> Statement: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self, type: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None, /
    ) -> Literal[False]: ...

@disjoint_base
class Cursor(Iterator[Any]):
    arraysize: int
    @property
    def connection(self) -> Connection: ...
    # May be None; typed as Any like typeshed's sqlite3 to avoid false positives.
    @property
    def description(self) -> tuple[tuple[str, None, None, None, None, None, None], ...] | Any: ...
    @property
    def lastrowid(self) -> int | None: ...
    row_factory: _RowFactoryOptions
    @property
    def rowcount(self) -> int: ...
    def __init__(self, cursor: Connection, /) -> None: ...
    def close(self) -> None: ...
    def execute(self, sql: str, parameters: _Parameters = (), /) -> Self: ...
    def executemany(self, sql: str, seq_of_parameters: Iterable[_Parameters], /) -> Self: ...
    def executescript(self, sql_script: str, /) -> Cursor: ...
    def fetchall(self) -> list[Any]: ...
    def fetchmany(self, size: int | None = 1) -> list[Any]: ...
    # A row (as made by the row_factory) or None; Any as in typeshed's sqlite3, so that callers
    # index a row they know exists without a cast.
    def fetchone(self) -> Any: ...
    def setinputsizes(self, sizes: object, /) -> None: ...
    def setoutputsize(self, size: object, column: object = None, /) -> None: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Any: ...

@final
class Statement: ...

@final
class Cache:
    def __init__(self, *args: object, **kwargs: object) -> None: ...
    def get(self, key: object, /) -> Any: ...
    def display(self) -> None: ...

OptimizedUnicode = str

@final
class PrepareProtocol:
    def __init__(self, *args: object, **kwargs: object) -> None: ...

@disjoint_base
class Row(Sequence[Any]):
    def __new__(cls, cursor: Cursor, data: tuple[Any, ...], /) -> Self: ...
    def keys(self) -> list[str]: ...
    @overload
    def __getitem__(self, key: int | str, /) -> Any: ...
    @overload
    def __getitem__(self, key: slice, /) -> tuple[Any, ...]: ...
    def __hash__(self) -> int: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
