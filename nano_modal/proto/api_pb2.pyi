from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CallKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_KIND_UNSPECIFIED: _ClassVar[CallKind]
    CALL_KIND_REMOTE: _ClassVar[CallKind]
    CALL_KIND_MAP: _ClassVar[CallKind]
    CALL_KIND_SPAWN: _ClassVar[CallKind]
    CALL_KIND_GENERATOR: _ClassVar[CallKind]

class OutputStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_STATUS_UNSPECIFIED: _ClassVar[OutputStatus]
    OUTPUT_STATUS_SUCCESS: _ClassVar[OutputStatus]
    OUTPUT_STATUS_FAILURE: _ClassVar[OutputStatus]
    OUTPUT_STATUS_TIMEOUT: _ClassVar[OutputStatus]
    OUTPUT_STATUS_CANCELLED: _ClassVar[OutputStatus]
    OUTPUT_STATUS_CONTAINER_DIED: _ClassVar[OutputStatus]
    OUTPUT_STATUS_INIT_FAILURE: _ClassVar[OutputStatus]
    OUTPUT_STATUS_GENERATOR_ITEM: _ClassVar[OutputStatus]
CALL_KIND_UNSPECIFIED: CallKind
CALL_KIND_REMOTE: CallKind
CALL_KIND_MAP: CallKind
CALL_KIND_SPAWN: CallKind
CALL_KIND_GENERATOR: CallKind
OUTPUT_STATUS_UNSPECIFIED: OutputStatus
OUTPUT_STATUS_SUCCESS: OutputStatus
OUTPUT_STATUS_FAILURE: OutputStatus
OUTPUT_STATUS_TIMEOUT: OutputStatus
OUTPUT_STATUS_CANCELLED: OutputStatus
OUTPUT_STATUS_CONTAINER_DIED: OutputStatus
OUTPUT_STATUS_INIT_FAILURE: OutputStatus
OUTPUT_STATUS_GENERATOR_ITEM: OutputStatus

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HelloRequest(_message.Message):
    __slots__ = ("client_version",)
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    client_version: str
    def __init__(self, client_version: _Optional[str] = ...) -> None: ...

class HelloResponse(_message.Message):
    __slots__ = ("server_version", "protocol_version", "role")
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    server_version: str
    protocol_version: int
    role: str
    def __init__(self, server_version: _Optional[str] = ..., protocol_version: _Optional[int] = ..., role: _Optional[str] = ...) -> None: ...

class AppCreateRequest(_message.Message):
    __slots__ = ("name", "ephemeral")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    ephemeral: bool
    def __init__(self, name: _Optional[str] = ..., ephemeral: _Optional[bool] = ...) -> None: ...

class AppCreateResponse(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class AppStopRequest(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class AppHeartbeatRequest(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class AppLogsRequest(_message.Message):
    __slots__ = ("app_id", "follow", "history")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    follow: bool
    history: int
    def __init__(self, app_id: _Optional[str] = ..., follow: _Optional[bool] = ..., history: _Optional[int] = ...) -> None: ...

class LogLine(_message.Message):
    __slots__ = ("function_name", "container_id", "fd", "data", "timestamp")
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    function_name: str
    container_id: str
    fd: int
    data: str
    timestamp: float
    def __init__(self, function_name: _Optional[str] = ..., container_id: _Optional[str] = ..., fd: _Optional[int] = ..., data: _Optional[str] = ..., timestamp: _Optional[float] = ...) -> None: ...

class LogBatch(_message.Message):
    __slots__ = ("lines", "app_done")
    LINES_FIELD_NUMBER: _ClassVar[int]
    APP_DONE_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[LogLine]
    app_done: bool
    def __init__(self, lines: _Optional[_Iterable[_Union[LogLine, _Mapping]]] = ..., app_done: _Optional[bool] = ...) -> None: ...

class AppDeployRequest(_message.Message):
    __slots__ = ("name", "tag", "definitions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    DEFINITIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    tag: str
    definitions: _containers.RepeatedCompositeFieldContainer[FunctionDefinition]
    def __init__(self, name: _Optional[str] = ..., tag: _Optional[str] = ..., definitions: _Optional[_Iterable[_Union[FunctionDefinition, _Mapping]]] = ...) -> None: ...

class AppDeployResponse(_message.Message):
    __slots__ = ("app_id", "version", "function_ids")
    class FunctionIdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_IDS_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    version: int
    function_ids: _containers.ScalarMap[str, str]
    def __init__(self, app_id: _Optional[str] = ..., version: _Optional[int] = ..., function_ids: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AppLookupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class AppSummary(_message.Message):
    __slots__ = ("app_id", "name", "state", "version", "created_at", "live_containers", "function_names")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LIVE_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAMES_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    name: str
    state: str
    version: int
    created_at: float
    live_containers: int
    function_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, app_id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[str] = ..., version: _Optional[int] = ..., created_at: _Optional[float] = ..., live_containers: _Optional[int] = ..., function_names: _Optional[_Iterable[str]] = ...) -> None: ...

class AppListRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AppListResponse(_message.Message):
    __slots__ = ("apps",)
    APPS_FIELD_NUMBER: _ClassVar[int]
    apps: _containers.RepeatedCompositeFieldContainer[AppSummary]
    def __init__(self, apps: _Optional[_Iterable[_Union[AppSummary, _Mapping]]] = ...) -> None: ...

class AppHistoryRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeploymentSummary(_message.Message):
    __slots__ = ("version", "tag", "created_at", "function_names", "rollback")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAMES_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    version: int
    tag: str
    created_at: float
    function_names: _containers.RepeatedScalarFieldContainer[str]
    rollback: bool
    def __init__(self, version: _Optional[int] = ..., tag: _Optional[str] = ..., created_at: _Optional[float] = ..., function_names: _Optional[_Iterable[str]] = ..., rollback: _Optional[bool] = ...) -> None: ...

class AppHistoryResponse(_message.Message):
    __slots__ = ("deployments",)
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    deployments: _containers.RepeatedCompositeFieldContainer[DeploymentSummary]
    def __init__(self, deployments: _Optional[_Iterable[_Union[DeploymentSummary, _Mapping]]] = ...) -> None: ...

class AppRollbackRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class FunctionGetRequest(_message.Message):
    __slots__ = ("app_name", "function_name")
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    app_name: str
    function_name: str
    def __init__(self, app_name: _Optional[str] = ..., function_name: _Optional[str] = ...) -> None: ...

class FunctionGetResponse(_message.Message):
    __slots__ = ("function_id", "definition")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    definition: FunctionDefinition
    def __init__(self, function_id: _Optional[str] = ..., definition: _Optional[_Union[FunctionDefinition, _Mapping]] = ...) -> None: ...

class RetryPolicy(_message.Message):
    __slots__ = ("max_retries", "backoff_coefficient", "initial_delay", "max_delay")
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_COEFFICIENT_FIELD_NUMBER: _ClassVar[int]
    INITIAL_DELAY_FIELD_NUMBER: _ClassVar[int]
    MAX_DELAY_FIELD_NUMBER: _ClassVar[int]
    max_retries: int
    backoff_coefficient: float
    initial_delay: float
    max_delay: float
    def __init__(self, max_retries: _Optional[int] = ..., backoff_coefficient: _Optional[float] = ..., initial_delay: _Optional[float] = ..., max_delay: _Optional[float] = ...) -> None: ...

class FunctionDefinition(_message.Message):
    __slots__ = ("name", "module_name", "source_blob_id", "pickled_blob_id", "is_generator", "is_async", "timeout", "retries", "max_containers", "min_containers", "scaledown_window", "max_inputs", "cpu", "memory_mb", "python_version", "block_network")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODULE_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    PICKLED_BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    IS_GENERATOR_FIELD_NUMBER: _ClassVar[int]
    IS_ASYNC_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    MIN_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    SCALEDOWN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUTS_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NETWORK_FIELD_NUMBER: _ClassVar[int]
    name: str
    module_name: str
    source_blob_id: str
    pickled_blob_id: str
    is_generator: bool
    is_async: bool
    timeout: float
    retries: RetryPolicy
    max_containers: int
    min_containers: int
    scaledown_window: float
    max_inputs: int
    cpu: float
    memory_mb: int
    python_version: str
    block_network: bool
    def __init__(self, name: _Optional[str] = ..., module_name: _Optional[str] = ..., source_blob_id: _Optional[str] = ..., pickled_blob_id: _Optional[str] = ..., is_generator: _Optional[bool] = ..., is_async: _Optional[bool] = ..., timeout: _Optional[float] = ..., retries: _Optional[_Union[RetryPolicy, _Mapping]] = ..., max_containers: _Optional[int] = ..., min_containers: _Optional[int] = ..., scaledown_window: _Optional[float] = ..., max_inputs: _Optional[int] = ..., cpu: _Optional[float] = ..., memory_mb: _Optional[int] = ..., python_version: _Optional[str] = ..., block_network: _Optional[bool] = ...) -> None: ...

class FunctionCreateRequest(_message.Message):
    __slots__ = ("app_id", "definition")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    definition: FunctionDefinition
    def __init__(self, app_id: _Optional[str] = ..., definition: _Optional[_Union[FunctionDefinition, _Mapping]] = ...) -> None: ...

class FunctionCreateResponse(_message.Message):
    __slots__ = ("function_id",)
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    def __init__(self, function_id: _Optional[str] = ...) -> None: ...

class Payload(_message.Message):
    __slots__ = ("data", "blob_id")
    DATA_FIELD_NUMBER: _ClassVar[int]
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    blob_id: str
    def __init__(self, data: _Optional[bytes] = ..., blob_id: _Optional[str] = ...) -> None: ...

class FunctionInput(_message.Message):
    __slots__ = ("idx", "args")
    IDX_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    idx: int
    args: Payload
    def __init__(self, idx: _Optional[int] = ..., args: _Optional[_Union[Payload, _Mapping]] = ...) -> None: ...

class FunctionMapRequest(_message.Message):
    __slots__ = ("function_id", "kind", "inputs", "inputs_complete", "wait_for_output")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    WAIT_FOR_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    kind: CallKind
    inputs: _containers.RepeatedCompositeFieldContainer[FunctionInput]
    inputs_complete: bool
    wait_for_output: float
    def __init__(self, function_id: _Optional[str] = ..., kind: _Optional[_Union[CallKind, str]] = ..., inputs: _Optional[_Iterable[_Union[FunctionInput, _Mapping]]] = ..., inputs_complete: _Optional[bool] = ..., wait_for_output: _Optional[float] = ...) -> None: ...

class FunctionMapResponse(_message.Message):
    __slots__ = ("call_id", "outputs", "next_cursor")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    outputs: _containers.RepeatedCompositeFieldContainer[FunctionOutput]
    next_cursor: int
    def __init__(self, call_id: _Optional[str] = ..., outputs: _Optional[_Iterable[_Union[FunctionOutput, _Mapping]]] = ..., next_cursor: _Optional[int] = ...) -> None: ...

class FunctionPutInputsRequest(_message.Message):
    __slots__ = ("call_id", "inputs", "inputs_complete")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    inputs: _containers.RepeatedCompositeFieldContainer[FunctionInput]
    inputs_complete: bool
    def __init__(self, call_id: _Optional[str] = ..., inputs: _Optional[_Iterable[_Union[FunctionInput, _Mapping]]] = ..., inputs_complete: _Optional[bool] = ...) -> None: ...

class FunctionPutInputsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FunctionOutput(_message.Message):
    __slots__ = ("input_id", "idx", "status", "data", "exception_repr", "traceback", "cursor")
    INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    IDX_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_REPR_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    input_id: str
    idx: int
    status: OutputStatus
    data: Payload
    exception_repr: str
    traceback: str
    cursor: int
    def __init__(self, input_id: _Optional[str] = ..., idx: _Optional[int] = ..., status: _Optional[_Union[OutputStatus, str]] = ..., data: _Optional[_Union[Payload, _Mapping]] = ..., exception_repr: _Optional[str] = ..., traceback: _Optional[str] = ..., cursor: _Optional[int] = ...) -> None: ...

class FunctionGetOutputsRequest(_message.Message):
    __slots__ = ("call_id", "after_cursor", "max_outputs", "timeout")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_CURSOR_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    after_cursor: int
    max_outputs: int
    timeout: float
    def __init__(self, call_id: _Optional[str] = ..., after_cursor: _Optional[int] = ..., max_outputs: _Optional[int] = ..., timeout: _Optional[float] = ...) -> None: ...

class FunctionGetOutputsResponse(_message.Message):
    __slots__ = ("outputs", "next_cursor", "call_done", "num_pending")
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    CALL_DONE_FIELD_NUMBER: _ClassVar[int]
    NUM_PENDING_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[FunctionOutput]
    next_cursor: int
    call_done: bool
    num_pending: int
    def __init__(self, outputs: _Optional[_Iterable[_Union[FunctionOutput, _Mapping]]] = ..., next_cursor: _Optional[int] = ..., call_done: _Optional[bool] = ..., num_pending: _Optional[int] = ...) -> None: ...

class FunctionCallCancelRequest(_message.Message):
    __slots__ = ("call_id",)
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    def __init__(self, call_id: _Optional[str] = ...) -> None: ...

class FunctionCallGetRequest(_message.Message):
    __slots__ = ("call_id",)
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    def __init__(self, call_id: _Optional[str] = ...) -> None: ...

class FunctionCallGetResponse(_message.Message):
    __slots__ = ("call_id", "function_name", "kind", "is_generator")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    IS_GENERATOR_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    function_name: str
    kind: CallKind
    is_generator: bool
    def __init__(self, call_id: _Optional[str] = ..., function_name: _Optional[str] = ..., kind: _Optional[_Union[CallKind, str]] = ..., is_generator: _Optional[bool] = ...) -> None: ...

class BlobHasRequest(_message.Message):
    __slots__ = ("blob_id",)
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    blob_id: str
    def __init__(self, blob_id: _Optional[str] = ...) -> None: ...

class BlobHasResponse(_message.Message):
    __slots__ = ("exists",)
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    exists: bool
    def __init__(self, exists: _Optional[bool] = ...) -> None: ...

class BlobChunk(_message.Message):
    __slots__ = ("blob_id", "data")
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    blob_id: str
    data: bytes
    def __init__(self, blob_id: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class BlobPutResponse(_message.Message):
    __slots__ = ("blob_id",)
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    blob_id: str
    def __init__(self, blob_id: _Optional[str] = ...) -> None: ...

class BlobGetRequest(_message.Message):
    __slots__ = ("blob_id",)
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    blob_id: str
    def __init__(self, blob_id: _Optional[str] = ...) -> None: ...

class WorkerRegisterRequest(_message.Message):
    __slots__ = ("hostname", "cpu", "memory_mb", "runtimes", "worker_id")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    cpu: float
    memory_mb: int
    runtimes: _containers.RepeatedScalarFieldContainer[str]
    worker_id: str
    def __init__(self, hostname: _Optional[str] = ..., cpu: _Optional[float] = ..., memory_mb: _Optional[int] = ..., runtimes: _Optional[_Iterable[str]] = ..., worker_id: _Optional[str] = ...) -> None: ...

class WorkerRegisterResponse(_message.Message):
    __slots__ = ("worker_id",)
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    def __init__(self, worker_id: _Optional[str] = ...) -> None: ...

class ContainerSpec(_message.Message):
    __slots__ = ("container_id", "function_id", "function_name", "app_id", "task_token", "cpu", "memory_mb", "env")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    function_id: str
    function_name: str
    app_id: str
    task_token: str
    cpu: float
    memory_mb: int
    env: _containers.ScalarMap[str, str]
    def __init__(self, container_id: _Optional[str] = ..., function_id: _Optional[str] = ..., function_name: _Optional[str] = ..., app_id: _Optional[str] = ..., task_token: _Optional[str] = ..., cpu: _Optional[float] = ..., memory_mb: _Optional[int] = ..., env: _Optional[_Mapping[str, str]] = ...) -> None: ...

class WorkerPollRequest(_message.Message):
    __slots__ = ("worker_id", "running_container_ids", "timeout")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    RUNNING_CONTAINER_IDS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    running_container_ids: _containers.RepeatedScalarFieldContainer[str]
    timeout: float
    def __init__(self, worker_id: _Optional[str] = ..., running_container_ids: _Optional[_Iterable[str]] = ..., timeout: _Optional[float] = ...) -> None: ...

class WorkerPollResponse(_message.Message):
    __slots__ = ("start", "stop_container_ids", "reregister")
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_CONTAINER_IDS_FIELD_NUMBER: _ClassVar[int]
    REREGISTER_FIELD_NUMBER: _ClassVar[int]
    start: _containers.RepeatedCompositeFieldContainer[ContainerSpec]
    stop_container_ids: _containers.RepeatedScalarFieldContainer[str]
    reregister: bool
    def __init__(self, start: _Optional[_Iterable[_Union[ContainerSpec, _Mapping]]] = ..., stop_container_ids: _Optional[_Iterable[str]] = ..., reregister: _Optional[bool] = ...) -> None: ...

class WorkerLogsRequest(_message.Message):
    __slots__ = ("worker_id", "lines")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    lines: _containers.RepeatedCompositeFieldContainer[LogLine]
    def __init__(self, worker_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[LogLine, _Mapping]]] = ...) -> None: ...

class WorkerContainerExitedRequest(_message.Message):
    __slots__ = ("worker_id", "container_id", "exit_code", "reason")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    container_id: str
    exit_code: int
    reason: str
    def __init__(self, worker_id: _Optional[str] = ..., container_id: _Optional[str] = ..., exit_code: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ContainerHelloRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...

class ContainerHelloResponse(_message.Message):
    __slots__ = ("function_id", "app_id", "definition", "app_function_ids")
    class AppFunctionIdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    APP_FUNCTION_IDS_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    app_id: str
    definition: FunctionDefinition
    app_function_ids: _containers.ScalarMap[str, str]
    def __init__(self, function_id: _Optional[str] = ..., app_id: _Optional[str] = ..., definition: _Optional[_Union[FunctionDefinition, _Mapping]] = ..., app_function_ids: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ContainerInput(_message.Message):
    __slots__ = ("input_id", "call_id", "idx", "args", "attempt", "kind")
    INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    IDX_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    input_id: str
    call_id: str
    idx: int
    args: Payload
    attempt: int
    kind: CallKind
    def __init__(self, input_id: _Optional[str] = ..., call_id: _Optional[str] = ..., idx: _Optional[int] = ..., args: _Optional[_Union[Payload, _Mapping]] = ..., attempt: _Optional[int] = ..., kind: _Optional[_Union[CallKind, str]] = ...) -> None: ...

class ContainerGetInputsRequest(_message.Message):
    __slots__ = ("container_id", "max_inputs", "timeout")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUTS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    max_inputs: int
    timeout: float
    def __init__(self, container_id: _Optional[str] = ..., max_inputs: _Optional[int] = ..., timeout: _Optional[float] = ...) -> None: ...

class ContainerGetInputsResponse(_message.Message):
    __slots__ = ("inputs", "shutdown")
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    SHUTDOWN_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedCompositeFieldContainer[ContainerInput]
    shutdown: bool
    def __init__(self, inputs: _Optional[_Iterable[_Union[ContainerInput, _Mapping]]] = ..., shutdown: _Optional[bool] = ...) -> None: ...

class ContainerPutOutputsRequest(_message.Message):
    __slots__ = ("container_id", "outputs", "released_input_ids")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    RELEASED_INPUT_IDS_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    outputs: _containers.RepeatedCompositeFieldContainer[FunctionOutput]
    released_input_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, container_id: _Optional[str] = ..., outputs: _Optional[_Iterable[_Union[FunctionOutput, _Mapping]]] = ..., released_input_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ContainerHeartbeatRequest(_message.Message):
    __slots__ = ("container_id", "running_input_ids")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    RUNNING_INPUT_IDS_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    running_input_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, container_id: _Optional[str] = ..., running_input_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ContainerHeartbeatResponse(_message.Message):
    __slots__ = ("cancelled_input_ids",)
    CANCELLED_INPUT_IDS_FIELD_NUMBER: _ClassVar[int]
    cancelled_input_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cancelled_input_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ContainerInitFailedRequest(_message.Message):
    __slots__ = ("container_id", "exception", "exception_repr", "traceback")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_REPR_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    exception: Payload
    exception_repr: str
    traceback: str
    def __init__(self, container_id: _Optional[str] = ..., exception: _Optional[_Union[Payload, _Mapping]] = ..., exception_repr: _Optional[str] = ..., traceback: _Optional[str] = ...) -> None: ...
