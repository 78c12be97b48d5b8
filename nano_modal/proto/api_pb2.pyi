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

class ObjectKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OBJECT_KIND_UNSPECIFIED: _ClassVar[ObjectKind]
    OBJECT_KIND_DICT: _ClassVar[ObjectKind]
    OBJECT_KIND_QUEUE: _ClassVar[ObjectKind]
    OBJECT_KIND_SECRET: _ClassVar[ObjectKind]
    OBJECT_KIND_VOLUME: _ClassVar[ObjectKind]

class FileType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILE_TYPE_UNSPECIFIED: _ClassVar[FileType]
    FILE_TYPE_FILE: _ClassVar[FileType]
    FILE_TYPE_DIRECTORY: _ClassVar[FileType]
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
OBJECT_KIND_UNSPECIFIED: ObjectKind
OBJECT_KIND_DICT: ObjectKind
OBJECT_KIND_QUEUE: ObjectKind
OBJECT_KIND_SECRET: ObjectKind
OBJECT_KIND_VOLUME: ObjectKind
FILE_TYPE_UNSPECIFIED: FileType
FILE_TYPE_FILE: FileType
FILE_TYPE_DIRECTORY: FileType

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HelloRequest(_message.Message):
    __slots__ = ("client_version",)
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    client_version: str
    def __init__(self, client_version: _Optional[str] = ...) -> None: ...

class HelloResponse(_message.Message):
    __slots__ = ("server_version", "protocol_version", "role", "web_base_url", "fast_lane_port", "web_domain", "workspace", "worker_runtimes")
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    WEB_BASE_URL_FIELD_NUMBER: _ClassVar[int]
    FAST_LANE_PORT_FIELD_NUMBER: _ClassVar[int]
    WEB_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    WORKER_RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    server_version: str
    protocol_version: int
    role: str
    web_base_url: str
    fast_lane_port: int
    web_domain: str
    workspace: str
    worker_runtimes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, server_version: _Optional[str] = ..., protocol_version: _Optional[int] = ..., role: _Optional[str] = ..., web_base_url: _Optional[str] = ..., fast_lane_port: _Optional[int] = ..., web_domain: _Optional[str] = ..., workspace: _Optional[str] = ..., worker_runtimes: _Optional[_Iterable[str]] = ...) -> None: ...

class AppCreateRequest(_message.Message):
    __slots__ = ("name", "ephemeral", "tags")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    ephemeral: bool
    tags: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., ephemeral: _Optional[bool] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

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
    __slots__ = ("function_name", "container_id", "fd", "data", "timestamp", "call_id")
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    function_name: str
    container_id: str
    fd: int
    data: str
    timestamp: float
    call_id: str
    def __init__(self, function_name: _Optional[str] = ..., container_id: _Optional[str] = ..., fd: _Optional[int] = ..., data: _Optional[str] = ..., timestamp: _Optional[float] = ..., call_id: _Optional[str] = ...) -> None: ...

class LogBatch(_message.Message):
    __slots__ = ("lines", "app_done")
    LINES_FIELD_NUMBER: _ClassVar[int]
    APP_DONE_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[LogLine]
    app_done: bool
    def __init__(self, lines: _Optional[_Iterable[_Union[LogLine, _Mapping]]] = ..., app_done: _Optional[bool] = ...) -> None: ...

class AppDeployRequest(_message.Message):
    __slots__ = ("name", "tag", "definitions", "tags")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    DEFINITIONS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    tag: str
    definitions: _containers.RepeatedCompositeFieldContainer[FunctionDefinition]
    tags: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., tag: _Optional[str] = ..., definitions: _Optional[_Iterable[_Union[FunctionDefinition, _Mapping]]] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AppSetTagsRequest(_message.Message):
    __slots__ = ("app_id", "tags")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    tags: _containers.ScalarMap[str, str]
    def __init__(self, app_id: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AppGetTagsRequest(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class AppTags(_message.Message):
    __slots__ = ("tags",)
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TAGS_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.ScalarMap[str, str]
    def __init__(self, tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

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
    __slots__ = ("name", "create_if_missing")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_IF_MISSING_FIELD_NUMBER: _ClassVar[int]
    name: str
    create_if_missing: bool
    def __init__(self, name: _Optional[str] = ..., create_if_missing: _Optional[bool] = ...) -> None: ...

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
    __slots__ = ("live_only",)
    LIVE_ONLY_FIELD_NUMBER: _ClassVar[int]
    live_only: bool
    def __init__(self, live_only: _Optional[bool] = ...) -> None: ...

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
    __slots__ = ("app_name", "function_name", "function_id", "include_stats")
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_STATS_FIELD_NUMBER: _ClassVar[int]
    app_name: str
    function_name: str
    function_id: str
    include_stats: bool
    def __init__(self, app_name: _Optional[str] = ..., function_name: _Optional[str] = ..., function_id: _Optional[str] = ..., include_stats: _Optional[bool] = ...) -> None: ...

class FunctionGetResponse(_message.Message):
    __slots__ = ("function_id", "definition", "app_id", "stats")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    definition: FunctionDefinition
    app_id: str
    stats: FunctionStats
    def __init__(self, function_id: _Optional[str] = ..., definition: _Optional[_Union[FunctionDefinition, _Mapping]] = ..., app_id: _Optional[str] = ..., stats: _Optional[_Union[FunctionStats, _Mapping]] = ...) -> None: ...

class FunctionStats(_message.Message):
    __slots__ = ("backlog", "num_total_runners", "num_running_inputs")
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    NUM_TOTAL_RUNNERS_FIELD_NUMBER: _ClassVar[int]
    NUM_RUNNING_INPUTS_FIELD_NUMBER: _ClassVar[int]
    backlog: int
    num_total_runners: int
    num_running_inputs: int
    def __init__(self, backlog: _Optional[int] = ..., num_total_runners: _Optional[int] = ..., num_running_inputs: _Optional[int] = ...) -> None: ...

class FunctionUpdateAutoscalerRequest(_message.Message):
    __slots__ = ("function_id", "min_containers", "max_containers", "scaledown_window")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    SCALEDOWN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    min_containers: int
    max_containers: int
    scaledown_window: float
    def __init__(self, function_id: _Optional[str] = ..., min_containers: _Optional[int] = ..., max_containers: _Optional[int] = ..., scaledown_window: _Optional[float] = ...) -> None: ...

class FunctionBindParamsRequest(_message.Message):
    __slots__ = ("function_id", "params", "definition")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    params: bytes
    definition: FunctionDefinition
    def __init__(self, function_id: _Optional[str] = ..., params: _Optional[bytes] = ..., definition: _Optional[_Union[FunctionDefinition, _Mapping]] = ...) -> None: ...

class FunctionBindParamsResponse(_message.Message):
    __slots__ = ("function_id",)
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    def __init__(self, function_id: _Optional[str] = ...) -> None: ...

class ProxyToken(_message.Message):
    __slots__ = ("key", "secret")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    key: str
    secret: str
    def __init__(self, key: _Optional[str] = ..., secret: _Optional[str] = ...) -> None: ...

class WorkspaceCreateRequest(_message.Message):
    __slots__ = ("name", "limits")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    name: str
    limits: WorkspaceLimits
    def __init__(self, name: _Optional[str] = ..., limits: _Optional[_Union[WorkspaceLimits, _Mapping]] = ...) -> None: ...

class WorkspaceLimits(_message.Message):
    __slots__ = ("max_containers", "max_cpu", "max_memory_mb")
    MAX_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    MAX_CPU_FIELD_NUMBER: _ClassVar[int]
    MAX_MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    max_containers: int
    max_cpu: float
    max_memory_mb: int
    def __init__(self, max_containers: _Optional[int] = ..., max_cpu: _Optional[float] = ..., max_memory_mb: _Optional[int] = ...) -> None: ...

class WorkspaceSetLimitsRequest(_message.Message):
    __slots__ = ("name", "limits")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    name: str
    limits: WorkspaceLimits
    def __init__(self, name: _Optional[str] = ..., limits: _Optional[_Union[WorkspaceLimits, _Mapping]] = ...) -> None: ...

class WorkspaceInfo(_message.Message):
    __slots__ = ("name", "created_at", "limits", "containers", "cpu", "memory_mb")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    name: str
    created_at: float
    limits: WorkspaceLimits
    containers: int
    cpu: float
    memory_mb: int
    def __init__(self, name: _Optional[str] = ..., created_at: _Optional[float] = ..., limits: _Optional[_Union[WorkspaceLimits, _Mapping]] = ..., containers: _Optional[int] = ..., cpu: _Optional[float] = ..., memory_mb: _Optional[int] = ...) -> None: ...

class WorkspaceListResponse(_message.Message):
    __slots__ = ("workspaces",)
    WORKSPACES_FIELD_NUMBER: _ClassVar[int]
    workspaces: _containers.RepeatedCompositeFieldContainer[WorkspaceInfo]
    def __init__(self, workspaces: _Optional[_Iterable[_Union[WorkspaceInfo, _Mapping]]] = ...) -> None: ...

class TokenCreateRequest(_message.Message):
    __slots__ = ("workspace", "invoke_only")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    INVOKE_ONLY_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    invoke_only: bool
    def __init__(self, workspace: _Optional[str] = ..., invoke_only: _Optional[bool] = ...) -> None: ...

class TokenCreateResponse(_message.Message):
    __slots__ = ("token", "workspace")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    token: str
    workspace: str
    def __init__(self, token: _Optional[str] = ..., workspace: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("name", "module_name", "source_blob_id", "pickled_blob_id", "is_generator", "is_async", "timeout", "retries", "max_containers", "min_containers", "scaledown_window", "max_inputs", "cpu", "memory_mb", "python_version", "block_network", "is_class", "methods", "max_concurrent_inputs", "batch_max_size", "batch_wait_ms", "bound_params", "parent_function_id", "schedule", "web", "class_parameters", "secret_ids", "volume_mounts", "cloud_bucket_mounts", "image", "gpu", "restrict_modal_access", "ephemeral_disk_mb", "outbound_cidr_allowlist")
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
    IS_CLASS_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_INPUTS_FIELD_NUMBER: _ClassVar[int]
    BATCH_MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    BATCH_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    BOUND_PARAMS_FIELD_NUMBER: _ClassVar[int]
    PARENT_FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    WEB_FIELD_NUMBER: _ClassVar[int]
    CLASS_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    SECRET_IDS_FIELD_NUMBER: _ClassVar[int]
    VOLUME_MOUNTS_FIELD_NUMBER: _ClassVar[int]
    CLOUD_BUCKET_MOUNTS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    RESTRICT_MODAL_ACCESS_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_DISK_MB_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_CIDR_ALLOWLIST_FIELD_NUMBER: _ClassVar[int]
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
    is_class: bool
    methods: _containers.RepeatedCompositeFieldContainer[MethodDefinition]
    max_concurrent_inputs: int
    batch_max_size: int
    batch_wait_ms: int
    bound_params: bytes
    parent_function_id: str
    schedule: Schedule
    web: WebEndpoint
    class_parameters: _containers.RepeatedCompositeFieldContainer[ClassParameter]
    secret_ids: _containers.RepeatedScalarFieldContainer[str]
    volume_mounts: _containers.RepeatedCompositeFieldContainer[VolumeMount]
    cloud_bucket_mounts: _containers.RepeatedCompositeFieldContainer[CloudBucketMount]
    image: ImageSpec
    gpu: str
    restrict_modal_access: bool
    ephemeral_disk_mb: int
    outbound_cidr_allowlist: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., module_name: _Optional[str] = ..., source_blob_id: _Optional[str] = ..., pickled_blob_id: _Optional[str] = ..., is_generator: _Optional[bool] = ..., is_async: _Optional[bool] = ..., timeout: _Optional[float] = ..., retries: _Optional[_Union[RetryPolicy, _Mapping]] = ..., max_containers: _Optional[int] = ..., min_containers: _Optional[int] = ..., scaledown_window: _Optional[float] = ..., max_inputs: _Optional[int] = ..., cpu: _Optional[float] = ..., memory_mb: _Optional[int] = ..., python_version: _Optional[str] = ..., block_network: _Optional[bool] = ..., is_class: _Optional[bool] = ..., methods: _Optional[_Iterable[_Union[MethodDefinition, _Mapping]]] = ..., max_concurrent_inputs: _Optional[int] = ..., batch_max_size: _Optional[int] = ..., batch_wait_ms: _Optional[int] = ..., bound_params: _Optional[bytes] = ..., parent_function_id: _Optional[str] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ..., web: _Optional[_Union[WebEndpoint, _Mapping]] = ..., class_parameters: _Optional[_Iterable[_Union[ClassParameter, _Mapping]]] = ..., secret_ids: _Optional[_Iterable[str]] = ..., volume_mounts: _Optional[_Iterable[_Union[VolumeMount, _Mapping]]] = ..., cloud_bucket_mounts: _Optional[_Iterable[_Union[CloudBucketMount, _Mapping]]] = ..., image: _Optional[_Union[ImageSpec, _Mapping]] = ..., gpu: _Optional[str] = ..., restrict_modal_access: _Optional[bool] = ..., ephemeral_disk_mb: _Optional[int] = ..., outbound_cidr_allowlist: _Optional[_Iterable[str]] = ...) -> None: ...

class ImageSpec(_message.Message):
    __slots__ = ("image_id", "base", "steps", "cache_scope")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    CACHE_SCOPE_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    base: ImageBase
    steps: _containers.RepeatedCompositeFieldContainer[ImageStep]
    cache_scope: str
    def __init__(self, image_id: _Optional[str] = ..., base: _Optional[_Union[ImageBase, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[ImageStep, _Mapping]]] = ..., cache_scope: _Optional[str] = ...) -> None: ...

class ImageBase(_message.Message):
    __slots__ = ("kind", "python_version", "ref", "secret_ids", "force_build")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    SECRET_IDS_FIELD_NUMBER: _ClassVar[int]
    FORCE_BUILD_FIELD_NUMBER: _ClassVar[int]
    kind: str
    python_version: str
    ref: str
    secret_ids: _containers.RepeatedScalarFieldContainer[str]
    force_build: str
    def __init__(self, kind: _Optional[str] = ..., python_version: _Optional[str] = ..., ref: _Optional[str] = ..., secret_ids: _Optional[_Iterable[str]] = ..., force_build: _Optional[str] = ...) -> None: ...

class ImageStep(_message.Message):
    __slots__ = ("kind", "args", "options", "blob_id", "content_hash", "secret_ids", "volume_mounts")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    SECRET_IDS_FIELD_NUMBER: _ClassVar[int]
    VOLUME_MOUNTS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    args: _containers.RepeatedScalarFieldContainer[str]
    options: _containers.ScalarMap[str, str]
    blob_id: str
    content_hash: str
    secret_ids: _containers.RepeatedScalarFieldContainer[str]
    volume_mounts: _containers.RepeatedCompositeFieldContainer[VolumeMount]
    def __init__(self, kind: _Optional[str] = ..., args: _Optional[_Iterable[str]] = ..., options: _Optional[_Mapping[str, str]] = ..., blob_id: _Optional[str] = ..., content_hash: _Optional[str] = ..., secret_ids: _Optional[_Iterable[str]] = ..., volume_mounts: _Optional[_Iterable[_Union[VolumeMount, _Mapping]]] = ...) -> None: ...

class ImageStepSecrets(_message.Message):
    __slots__ = ("step", "env")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STEP_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    step: int
    env: _containers.ScalarMap[str, str]
    def __init__(self, step: _Optional[int] = ..., env: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("period_seconds", "cron", "timezone", "period_months")
    PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_MONTHS_FIELD_NUMBER: _ClassVar[int]
    period_seconds: float
    cron: str
    timezone: str
    period_months: int
    def __init__(self, period_seconds: _Optional[float] = ..., cron: _Optional[str] = ..., timezone: _Optional[str] = ..., period_months: _Optional[int] = ...) -> None: ...

class WebEndpoint(_message.Message):
    __slots__ = ("kind", "method", "requires_proxy_auth", "port", "startup_timeout", "docs", "label", "sessioned")
    KIND_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_PROXY_AUTH_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    STARTUP_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    DOCS_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SESSIONED_FIELD_NUMBER: _ClassVar[int]
    kind: str
    method: str
    requires_proxy_auth: bool
    port: int
    startup_timeout: float
    docs: bool
    label: str
    sessioned: bool
    def __init__(self, kind: _Optional[str] = ..., method: _Optional[str] = ..., requires_proxy_auth: _Optional[bool] = ..., port: _Optional[int] = ..., startup_timeout: _Optional[float] = ..., docs: _Optional[bool] = ..., label: _Optional[str] = ..., sessioned: _Optional[bool] = ...) -> None: ...

class MethodDefinition(_message.Message):
    __slots__ = ("name", "is_generator", "is_async", "web")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IS_GENERATOR_FIELD_NUMBER: _ClassVar[int]
    IS_ASYNC_FIELD_NUMBER: _ClassVar[int]
    WEB_FIELD_NUMBER: _ClassVar[int]
    name: str
    is_generator: bool
    is_async: bool
    web: WebEndpoint
    def __init__(self, name: _Optional[str] = ..., is_generator: _Optional[bool] = ..., is_async: _Optional[bool] = ..., web: _Optional[_Union[WebEndpoint, _Mapping]] = ...) -> None: ...

class ClassParameter(_message.Message):
    __slots__ = ("name", "type", "required")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    required: bool
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., required: _Optional[bool] = ...) -> None: ...

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
    __slots__ = ("idx", "args", "method_name")
    IDX_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    METHOD_NAME_FIELD_NUMBER: _ClassVar[int]
    idx: int
    args: Payload
    method_name: str
    def __init__(self, idx: _Optional[int] = ..., args: _Optional[_Union[Payload, _Mapping]] = ..., method_name: _Optional[str] = ...) -> None: ...

class FunctionMapRequest(_message.Message):
    __slots__ = ("function_id", "kind", "inputs", "inputs_complete", "wait_for_output", "parent_input_id")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    WAIT_FOR_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    PARENT_INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    kind: CallKind
    inputs: _containers.RepeatedCompositeFieldContainer[FunctionInput]
    inputs_complete: bool
    wait_for_output: float
    parent_input_id: str
    def __init__(self, function_id: _Optional[str] = ..., kind: _Optional[_Union[CallKind, str]] = ..., inputs: _Optional[_Iterable[_Union[FunctionInput, _Mapping]]] = ..., inputs_complete: _Optional[bool] = ..., wait_for_output: _Optional[float] = ..., parent_input_id: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("input_id", "idx", "status", "data", "exception_repr", "traceback", "cursor", "log_sync_lines", "run_seconds")
    INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    IDX_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_REPR_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    LOG_SYNC_LINES_FIELD_NUMBER: _ClassVar[int]
    RUN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    input_id: str
    idx: int
    status: OutputStatus
    data: Payload
    exception_repr: str
    traceback: str
    cursor: int
    log_sync_lines: int
    run_seconds: float
    def __init__(self, input_id: _Optional[str] = ..., idx: _Optional[int] = ..., status: _Optional[_Union[OutputStatus, str]] = ..., data: _Optional[_Union[Payload, _Mapping]] = ..., exception_repr: _Optional[str] = ..., traceback: _Optional[str] = ..., cursor: _Optional[int] = ..., log_sync_lines: _Optional[int] = ..., run_seconds: _Optional[float] = ...) -> None: ...

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

class StatsPercentile(_message.Message):
    __slots__ = ("percentile_basis_points", "value")
    PERCENTILE_BASIS_POINTS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    percentile_basis_points: int
    value: float
    def __init__(self, percentile_basis_points: _Optional[int] = ..., value: _Optional[float] = ...) -> None: ...

class StatsPercentileDistribution(_message.Message):
    __slots__ = ("unit", "percentiles")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    PERCENTILES_FIELD_NUMBER: _ClassVar[int]
    unit: str
    percentiles: _containers.RepeatedCompositeFieldContainer[StatsPercentile]
    def __init__(self, unit: _Optional[str] = ..., percentiles: _Optional[_Iterable[_Union[StatsPercentile, _Mapping]]] = ...) -> None: ...

class FunctionTimeRangeStatsRequest(_message.Message):
    __slots__ = ("function_id", "since", "until", "container_id", "all_variants")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    ALL_VARIANTS_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    since: float
    until: float
    container_id: str
    all_variants: bool
    def __init__(self, function_id: _Optional[str] = ..., since: _Optional[float] = ..., until: _Optional[float] = ..., container_id: _Optional[str] = ..., all_variants: _Optional[bool] = ...) -> None: ...

class FunctionTimeRangeStats(_message.Message):
    __slots__ = ("since", "until", "input_success_count", "input_failure_count", "input_timeout_count", "input_running_at_end_count", "input_percentile_stats", "container_started_count", "container_error_count", "container_creating_at_end_count", "container_percentile_stats", "container_total_count", "variant_count", "request_count_by_status_code")
    class InputPercentileStatsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: StatsPercentileDistribution
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[StatsPercentileDistribution, _Mapping]] = ...) -> None: ...
    class ContainerPercentileStatsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: StatsPercentileDistribution
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[StatsPercentileDistribution, _Mapping]] = ...) -> None: ...
    class RequestCountByStatusCodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    INPUT_SUCCESS_COUNT_FIELD_NUMBER: _ClassVar[int]
    INPUT_FAILURE_COUNT_FIELD_NUMBER: _ClassVar[int]
    INPUT_TIMEOUT_COUNT_FIELD_NUMBER: _ClassVar[int]
    INPUT_RUNNING_AT_END_COUNT_FIELD_NUMBER: _ClassVar[int]
    INPUT_PERCENTILE_STATS_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_STARTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ERROR_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_CREATING_AT_END_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_PERCENTILE_STATS_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_COUNT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_COUNT_BY_STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    since: float
    until: float
    input_success_count: int
    input_failure_count: int
    input_timeout_count: int
    input_running_at_end_count: int
    input_percentile_stats: _containers.MessageMap[str, StatsPercentileDistribution]
    container_started_count: int
    container_error_count: int
    container_creating_at_end_count: int
    container_percentile_stats: _containers.MessageMap[str, StatsPercentileDistribution]
    container_total_count: int
    variant_count: int
    request_count_by_status_code: _containers.ScalarMap[int, int]
    def __init__(self, since: _Optional[float] = ..., until: _Optional[float] = ..., input_success_count: _Optional[int] = ..., input_failure_count: _Optional[int] = ..., input_timeout_count: _Optional[int] = ..., input_running_at_end_count: _Optional[int] = ..., input_percentile_stats: _Optional[_Mapping[str, StatsPercentileDistribution]] = ..., container_started_count: _Optional[int] = ..., container_error_count: _Optional[int] = ..., container_creating_at_end_count: _Optional[int] = ..., container_percentile_stats: _Optional[_Mapping[str, StatsPercentileDistribution]] = ..., container_total_count: _Optional[int] = ..., variant_count: _Optional[int] = ..., request_count_by_status_code: _Optional[_Mapping[int, int]] = ...) -> None: ...

class FunctionMetricsRequest(_message.Message):
    __slots__ = ("function_id", "since", "until", "bucket_secs", "groups", "all_variants", "schema_only")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    BUCKET_SECS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    ALL_VARIANTS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_ONLY_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    since: float
    until: float
    bucket_secs: int
    groups: _containers.RepeatedScalarFieldContainer[str]
    all_variants: bool
    schema_only: bool
    def __init__(self, function_id: _Optional[str] = ..., since: _Optional[float] = ..., until: _Optional[float] = ..., bucket_secs: _Optional[int] = ..., groups: _Optional[_Iterable[str]] = ..., all_variants: _Optional[bool] = ..., schema_only: _Optional[bool] = ...) -> None: ...

class MetricPoint(_message.Message):
    __slots__ = ("timestamp", "value")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    timestamp: float
    value: float
    def __init__(self, timestamp: _Optional[float] = ..., value: _Optional[float] = ...) -> None: ...

class MetricSeriesData(_message.Message):
    __slots__ = ("group", "name", "unit", "description", "points")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    group: str
    name: str
    unit: str
    description: str
    points: _containers.RepeatedCompositeFieldContainer[MetricPoint]
    def __init__(self, group: _Optional[str] = ..., name: _Optional[str] = ..., unit: _Optional[str] = ..., description: _Optional[str] = ..., points: _Optional[_Iterable[_Union[MetricPoint, _Mapping]]] = ...) -> None: ...

class FunctionMetricsResponse(_message.Message):
    __slots__ = ("since", "until", "bucket_secs", "series")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    BUCKET_SECS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    since: float
    until: float
    bucket_secs: int
    series: _containers.RepeatedCompositeFieldContainer[MetricSeriesData]
    def __init__(self, since: _Optional[float] = ..., until: _Optional[float] = ..., bucket_secs: _Optional[int] = ..., series: _Optional[_Iterable[_Union[MetricSeriesData, _Mapping]]] = ...) -> None: ...

class AppTimeRangeStatsRequest(_message.Message):
    __slots__ = ("app_id", "since", "until")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    since: float
    until: float
    def __init__(self, app_id: _Optional[str] = ..., since: _Optional[float] = ..., until: _Optional[float] = ...) -> None: ...

class AppFunctionCounts(_message.Message):
    __slots__ = ("function_id", "calls_succeeded", "calls_failed", "container_errors", "container_active_count")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    CALLS_SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    CALLS_FAILED_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ERRORS_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ACTIVE_COUNT_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    calls_succeeded: int
    calls_failed: int
    container_errors: int
    container_active_count: int
    def __init__(self, function_id: _Optional[str] = ..., calls_succeeded: _Optional[int] = ..., calls_failed: _Optional[int] = ..., container_errors: _Optional[int] = ..., container_active_count: _Optional[int] = ...) -> None: ...

class AppTimeRangeStats(_message.Message):
    __slots__ = ("since", "until", "functions", "sandboxes_finished", "sandboxes_live", "deployment_count", "deployed")
    class FunctionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: AppFunctionCounts
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[AppFunctionCounts, _Mapping]] = ...) -> None: ...
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    SANDBOXES_FINISHED_FIELD_NUMBER: _ClassVar[int]
    SANDBOXES_LIVE_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    DEPLOYED_FIELD_NUMBER: _ClassVar[int]
    since: float
    until: float
    functions: _containers.MessageMap[str, AppFunctionCounts]
    sandboxes_finished: int
    sandboxes_live: int
    deployment_count: int
    deployed: bool
    def __init__(self, since: _Optional[float] = ..., until: _Optional[float] = ..., functions: _Optional[_Mapping[str, AppFunctionCounts]] = ..., sandboxes_finished: _Optional[int] = ..., sandboxes_live: _Optional[int] = ..., deployment_count: _Optional[int] = ..., deployed: _Optional[bool] = ...) -> None: ...

class SandboxStatsRequest(_message.Message):
    __slots__ = ("sandbox_id", "since", "until")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    since: float
    until: float
    def __init__(self, sandbox_id: _Optional[str] = ..., since: _Optional[float] = ..., until: _Optional[float] = ...) -> None: ...

class SandboxStatsResponse(_message.Message):
    __slots__ = ("since", "until", "duration_seconds", "requested_cpu", "requested_memory_mb")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_CPU_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    since: float
    until: float
    duration_seconds: float
    requested_cpu: float
    requested_memory_mb: int
    def __init__(self, since: _Optional[float] = ..., until: _Optional[float] = ..., duration_seconds: _Optional[float] = ..., requested_cpu: _Optional[float] = ..., requested_memory_mb: _Optional[int] = ...) -> None: ...

class FunctionCallGraphRequest(_message.Message):
    __slots__ = ("call_id",)
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    def __init__(self, call_id: _Optional[str] = ...) -> None: ...

class CallGraphInput(_message.Message):
    __slots__ = ("input_id", "call_id", "task_id", "status")
    INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    input_id: str
    call_id: str
    task_id: str
    status: int
    def __init__(self, input_id: _Optional[str] = ..., call_id: _Optional[str] = ..., task_id: _Optional[str] = ..., status: _Optional[int] = ...) -> None: ...

class CallGraphCall(_message.Message):
    __slots__ = ("call_id", "function_name", "module_name", "parent_input_id")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    MODULE_NAME_FIELD_NUMBER: _ClassVar[int]
    PARENT_INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    function_name: str
    module_name: str
    parent_input_id: str
    def __init__(self, call_id: _Optional[str] = ..., function_name: _Optional[str] = ..., module_name: _Optional[str] = ..., parent_input_id: _Optional[str] = ...) -> None: ...

class FunctionCallGraph(_message.Message):
    __slots__ = ("inputs", "function_calls", "truncated")
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_CALLS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedCompositeFieldContainer[CallGraphInput]
    function_calls: _containers.RepeatedCompositeFieldContainer[CallGraphCall]
    truncated: bool
    def __init__(self, inputs: _Optional[_Iterable[_Union[CallGraphInput, _Mapping]]] = ..., function_calls: _Optional[_Iterable[_Union[CallGraphCall, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class FunctionCallGetRequest(_message.Message):
    __slots__ = ("call_id",)
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    def __init__(self, call_id: _Optional[str] = ...) -> None: ...

class FunctionCallGetResponse(_message.Message):
    __slots__ = ("call_id", "function_name", "kind", "is_generator", "app_id")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    IS_GENERATOR_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    function_name: str
    kind: CallKind
    is_generator: bool
    app_id: str
    def __init__(self, call_id: _Optional[str] = ..., function_name: _Optional[str] = ..., kind: _Optional[_Union[CallKind, str]] = ..., is_generator: _Optional[bool] = ..., app_id: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("hostname", "cpu", "memory_mb", "runtimes", "worker_id", "gpus")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    cpu: float
    memory_mb: int
    runtimes: _containers.RepeatedScalarFieldContainer[str]
    worker_id: str
    gpus: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, hostname: _Optional[str] = ..., cpu: _Optional[float] = ..., memory_mb: _Optional[int] = ..., runtimes: _Optional[_Iterable[str]] = ..., worker_id: _Optional[str] = ..., gpus: _Optional[_Iterable[str]] = ...) -> None: ...

class WorkerRegisterResponse(_message.Message):
    __slots__ = ("worker_id",)
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    def __init__(self, worker_id: _Optional[str] = ...) -> None: ...

class ContainerSpec(_message.Message):
    __slots__ = ("container_id", "function_id", "function_name", "app_id", "task_token", "cpu", "memory_mb", "env", "disk_mb", "image", "image_secrets", "sandbox")
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
    DISK_MB_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SECRETS_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    function_id: str
    function_name: str
    app_id: str
    task_token: str
    cpu: float
    memory_mb: int
    env: _containers.ScalarMap[str, str]
    disk_mb: int
    image: ImageSpec
    image_secrets: _containers.RepeatedCompositeFieldContainer[ImageStepSecrets]
    sandbox: bool
    def __init__(self, container_id: _Optional[str] = ..., function_id: _Optional[str] = ..., function_name: _Optional[str] = ..., app_id: _Optional[str] = ..., task_token: _Optional[str] = ..., cpu: _Optional[float] = ..., memory_mb: _Optional[int] = ..., env: _Optional[_Mapping[str, str]] = ..., disk_mb: _Optional[int] = ..., image: _Optional[_Union[ImageSpec, _Mapping]] = ..., image_secrets: _Optional[_Iterable[_Union[ImageStepSecrets, _Mapping]]] = ..., sandbox: _Optional[bool] = ...) -> None: ...

class WorkerPollRequest(_message.Message):
    __slots__ = ("worker_id", "running_container_ids", "timeout", "host_cpu_busy", "cpu_measured", "container_cpu_demand")
    class ContainerCpuDemandEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    RUNNING_CONTAINER_IDS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    HOST_CPU_BUSY_FIELD_NUMBER: _ClassVar[int]
    CPU_MEASURED_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_CPU_DEMAND_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    running_container_ids: _containers.RepeatedScalarFieldContainer[str]
    timeout: float
    host_cpu_busy: float
    cpu_measured: bool
    container_cpu_demand: _containers.ScalarMap[str, float]
    def __init__(self, worker_id: _Optional[str] = ..., running_container_ids: _Optional[_Iterable[str]] = ..., timeout: _Optional[float] = ..., host_cpu_busy: _Optional[float] = ..., cpu_measured: _Optional[bool] = ..., container_cpu_demand: _Optional[_Mapping[str, float]] = ...) -> None: ...

class WorkerPollResponse(_message.Message):
    __slots__ = ("start", "stop_container_ids", "reregister", "attach_container_ids")
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_CONTAINER_IDS_FIELD_NUMBER: _ClassVar[int]
    REREGISTER_FIELD_NUMBER: _ClassVar[int]
    ATTACH_CONTAINER_IDS_FIELD_NUMBER: _ClassVar[int]
    start: _containers.RepeatedCompositeFieldContainer[ContainerSpec]
    stop_container_ids: _containers.RepeatedScalarFieldContainer[str]
    reregister: bool
    attach_container_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, start: _Optional[_Iterable[_Union[ContainerSpec, _Mapping]]] = ..., stop_container_ids: _Optional[_Iterable[str]] = ..., reregister: _Optional[bool] = ..., attach_container_ids: _Optional[_Iterable[str]] = ...) -> None: ...

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
    __slots__ = ("function_id", "app_id", "definition", "app_function_ids", "fast_lane_port")
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
    FAST_LANE_PORT_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    app_id: str
    definition: FunctionDefinition
    app_function_ids: _containers.ScalarMap[str, str]
    fast_lane_port: int
    def __init__(self, function_id: _Optional[str] = ..., app_id: _Optional[str] = ..., definition: _Optional[_Union[FunctionDefinition, _Mapping]] = ..., app_function_ids: _Optional[_Mapping[str, str]] = ..., fast_lane_port: _Optional[int] = ...) -> None: ...

class ContainerInput(_message.Message):
    __slots__ = ("input_id", "call_id", "idx", "args", "attempt", "kind", "method_name")
    INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    IDX_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    METHOD_NAME_FIELD_NUMBER: _ClassVar[int]
    input_id: str
    call_id: str
    idx: int
    args: Payload
    attempt: int
    kind: CallKind
    method_name: str
    def __init__(self, input_id: _Optional[str] = ..., call_id: _Optional[str] = ..., idx: _Optional[int] = ..., args: _Optional[_Union[Payload, _Mapping]] = ..., attempt: _Optional[int] = ..., kind: _Optional[_Union[CallKind, str]] = ..., method_name: _Optional[str] = ...) -> None: ...

class ContainerGetInputsRequest(_message.Message):
    __slots__ = ("container_id", "max_inputs", "timeout", "request_seq")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUTS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_SEQ_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    max_inputs: int
    timeout: float
    request_seq: int
    def __init__(self, container_id: _Optional[str] = ..., max_inputs: _Optional[int] = ..., timeout: _Optional[float] = ..., request_seq: _Optional[int] = ...) -> None: ...

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

class ContainerWebReceiveRequest(_message.Message):
    __slots__ = ("container_id", "input_id", "after", "timeout")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    input_id: str
    after: int
    timeout: float
    def __init__(self, container_id: _Optional[str] = ..., input_id: _Optional[str] = ..., after: _Optional[int] = ..., timeout: _Optional[float] = ...) -> None: ...

class ContainerWebReceiveResponse(_message.Message):
    __slots__ = ("messages", "closed")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedScalarFieldContainer[bytes]
    closed: bool
    def __init__(self, messages: _Optional[_Iterable[bytes]] = ..., closed: _Optional[bool] = ...) -> None: ...

class TunnelStartRequest(_message.Message):
    __slots__ = ("container_id", "port")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    port: int
    def __init__(self, container_id: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class TunnelStartResponse(_message.Message):
    __slots__ = ("tunnel_key", "path", "host_label")
    TUNNEL_KEY_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    HOST_LABEL_FIELD_NUMBER: _ClassVar[int]
    tunnel_key: str
    path: str
    host_label: str
    def __init__(self, tunnel_key: _Optional[str] = ..., path: _Optional[str] = ..., host_label: _Optional[str] = ...) -> None: ...

class TunnelStopRequest(_message.Message):
    __slots__ = ("container_id", "tunnel_key")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TUNNEL_KEY_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    tunnel_key: str
    def __init__(self, container_id: _Optional[str] = ..., tunnel_key: _Optional[str] = ...) -> None: ...

class TunnelHeader(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: bytes
    value: bytes
    def __init__(self, name: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class TunnelHttpRequest(_message.Message):
    __slots__ = ("request_key", "method", "path", "headers", "body", "client_address")
    REQUEST_KEY_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    request_key: str
    method: str
    path: str
    headers: _containers.RepeatedCompositeFieldContainer[TunnelHeader]
    body: bytes
    client_address: str
    def __init__(self, request_key: _Optional[str] = ..., method: _Optional[str] = ..., path: _Optional[str] = ..., headers: _Optional[_Iterable[_Union[TunnelHeader, _Mapping]]] = ..., body: _Optional[bytes] = ..., client_address: _Optional[str] = ...) -> None: ...

class TunnelNextRequest(_message.Message):
    __slots__ = ("container_id", "tunnel_key", "timeout")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TUNNEL_KEY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    tunnel_key: str
    timeout: float
    def __init__(self, container_id: _Optional[str] = ..., tunnel_key: _Optional[str] = ..., timeout: _Optional[float] = ...) -> None: ...

class TunnelNextResponse(_message.Message):
    __slots__ = ("requests", "closed")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[TunnelHttpRequest]
    closed: bool
    def __init__(self, requests: _Optional[_Iterable[_Union[TunnelHttpRequest, _Mapping]]] = ..., closed: _Optional[bool] = ...) -> None: ...

class TunnelRespondRequest(_message.Message):
    __slots__ = ("container_id", "tunnel_key", "request_key", "status", "headers", "body")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TUNNEL_KEY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    tunnel_key: str
    request_key: str
    status: int
    headers: _containers.RepeatedCompositeFieldContainer[TunnelHeader]
    body: bytes
    def __init__(self, container_id: _Optional[str] = ..., tunnel_key: _Optional[str] = ..., request_key: _Optional[str] = ..., status: _Optional[int] = ..., headers: _Optional[_Iterable[_Union[TunnelHeader, _Mapping]]] = ..., body: _Optional[bytes] = ...) -> None: ...

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

class VolumeMount(_message.Message):
    __slots__ = ("mount_path", "volume_id", "read_only")
    MOUNT_PATH_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    mount_path: str
    volume_id: str
    read_only: bool
    def __init__(self, mount_path: _Optional[str] = ..., volume_id: _Optional[str] = ..., read_only: _Optional[bool] = ...) -> None: ...

class CloudBucketMount(_message.Message):
    __slots__ = ("mount_path", "bucket_name", "bucket_endpoint_url", "key_prefix", "secret_ids", "read_only", "requester_pays", "force_path_style")
    MOUNT_PATH_FIELD_NUMBER: _ClassVar[int]
    BUCKET_NAME_FIELD_NUMBER: _ClassVar[int]
    BUCKET_ENDPOINT_URL_FIELD_NUMBER: _ClassVar[int]
    KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    SECRET_IDS_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_PAYS_FIELD_NUMBER: _ClassVar[int]
    FORCE_PATH_STYLE_FIELD_NUMBER: _ClassVar[int]
    mount_path: str
    bucket_name: str
    bucket_endpoint_url: str
    key_prefix: str
    secret_ids: _containers.RepeatedScalarFieldContainer[str]
    read_only: bool
    requester_pays: bool
    force_path_style: bool
    def __init__(self, mount_path: _Optional[str] = ..., bucket_name: _Optional[str] = ..., bucket_endpoint_url: _Optional[str] = ..., key_prefix: _Optional[str] = ..., secret_ids: _Optional[_Iterable[str]] = ..., read_only: _Optional[bool] = ..., requester_pays: _Optional[bool] = ..., force_path_style: _Optional[bool] = ...) -> None: ...

class ObjectGetOrCreateRequest(_message.Message):
    __slots__ = ("kind", "name", "environment_name", "create_if_missing", "ephemeral", "required_keys")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_IF_MISSING_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_KEYS_FIELD_NUMBER: _ClassVar[int]
    kind: ObjectKind
    name: str
    environment_name: str
    create_if_missing: bool
    ephemeral: bool
    required_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kind: _Optional[_Union[ObjectKind, str]] = ..., name: _Optional[str] = ..., environment_name: _Optional[str] = ..., create_if_missing: _Optional[bool] = ..., ephemeral: _Optional[bool] = ..., required_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class ObjectGetOrCreateResponse(_message.Message):
    __slots__ = ("object_id", "created")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    created: bool
    def __init__(self, object_id: _Optional[str] = ..., created: _Optional[bool] = ...) -> None: ...

class ObjectInfo(_message.Message):
    __slots__ = ("object_id", "kind", "name", "environment_name", "created_at", "updated_at", "ephemeral")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    kind: ObjectKind
    name: str
    environment_name: str
    created_at: float
    updated_at: float
    ephemeral: bool
    def __init__(self, object_id: _Optional[str] = ..., kind: _Optional[_Union[ObjectKind, str]] = ..., name: _Optional[str] = ..., environment_name: _Optional[str] = ..., created_at: _Optional[float] = ..., updated_at: _Optional[float] = ..., ephemeral: _Optional[bool] = ...) -> None: ...

class ObjectListRequest(_message.Message):
    __slots__ = ("kind", "environment_name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    kind: ObjectKind
    environment_name: str
    def __init__(self, kind: _Optional[_Union[ObjectKind, str]] = ..., environment_name: _Optional[str] = ...) -> None: ...

class ObjectListResponse(_message.Message):
    __slots__ = ("objects",)
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    objects: _containers.RepeatedCompositeFieldContainer[ObjectInfo]
    def __init__(self, objects: _Optional[_Iterable[_Union[ObjectInfo, _Mapping]]] = ...) -> None: ...

class ObjectDeleteRequest(_message.Message):
    __slots__ = ("kind", "name", "environment_name", "object_id", "allow_missing")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MISSING_FIELD_NUMBER: _ClassVar[int]
    kind: ObjectKind
    name: str
    environment_name: str
    object_id: str
    allow_missing: bool
    def __init__(self, kind: _Optional[_Union[ObjectKind, str]] = ..., name: _Optional[str] = ..., environment_name: _Optional[str] = ..., object_id: _Optional[str] = ..., allow_missing: _Optional[bool] = ...) -> None: ...

class ImagePublishRequest(_message.Message):
    __slots__ = ("tag", "spec")
    TAG_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    tag: str
    spec: ImageSpec
    def __init__(self, tag: _Optional[str] = ..., spec: _Optional[_Union[ImageSpec, _Mapping]] = ...) -> None: ...

class ImageGetByTagRequest(_message.Message):
    __slots__ = ("tag",)
    TAG_FIELD_NUMBER: _ClassVar[int]
    tag: str
    def __init__(self, tag: _Optional[str] = ...) -> None: ...

class ObjectRenameRequest(_message.Message):
    __slots__ = ("kind", "name", "environment_name", "new_name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    NEW_NAME_FIELD_NUMBER: _ClassVar[int]
    kind: ObjectKind
    name: str
    environment_name: str
    new_name: str
    def __init__(self, kind: _Optional[_Union[ObjectKind, str]] = ..., name: _Optional[str] = ..., environment_name: _Optional[str] = ..., new_name: _Optional[str] = ...) -> None: ...

class ObjectHeartbeatRequest(_message.Message):
    __slots__ = ("object_id",)
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    def __init__(self, object_id: _Optional[str] = ...) -> None: ...

class DictEntry(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class DictGetRequest(_message.Message):
    __slots__ = ("dict_id", "key")
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    key: bytes
    def __init__(self, dict_id: _Optional[str] = ..., key: _Optional[bytes] = ...) -> None: ...

class DictGetResponse(_message.Message):
    __slots__ = ("found", "value")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    found: bool
    value: bytes
    def __init__(self, found: _Optional[bool] = ..., value: _Optional[bytes] = ...) -> None: ...

class DictUpdateRequest(_message.Message):
    __slots__ = ("dict_id", "entries", "if_not_exists")
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    IF_NOT_EXISTS_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    entries: _containers.RepeatedCompositeFieldContainer[DictEntry]
    if_not_exists: bool
    def __init__(self, dict_id: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[DictEntry, _Mapping]]] = ..., if_not_exists: _Optional[bool] = ...) -> None: ...

class DictUpdateResponse(_message.Message):
    __slots__ = ("created",)
    CREATED_FIELD_NUMBER: _ClassVar[int]
    created: bool
    def __init__(self, created: _Optional[bool] = ...) -> None: ...

class DictLenRequest(_message.Message):
    __slots__ = ("dict_id",)
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    def __init__(self, dict_id: _Optional[str] = ...) -> None: ...

class DictLenResponse(_message.Message):
    __slots__ = ("len",)
    LEN_FIELD_NUMBER: _ClassVar[int]
    len: int
    def __init__(self, len: _Optional[int] = ...) -> None: ...

class DictContentsRequest(_message.Message):
    __slots__ = ("dict_id", "after", "limit", "keys", "values")
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    after: int
    limit: int
    keys: bool
    values: bool
    def __init__(self, dict_id: _Optional[str] = ..., after: _Optional[int] = ..., limit: _Optional[int] = ..., keys: _Optional[bool] = ..., values: _Optional[bool] = ...) -> None: ...

class DictContentsResponse(_message.Message):
    __slots__ = ("entries", "next", "done")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[DictEntry]
    next: int
    done: bool
    def __init__(self, entries: _Optional[_Iterable[_Union[DictEntry, _Mapping]]] = ..., next: _Optional[int] = ..., done: _Optional[bool] = ...) -> None: ...

class QueuePutRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "values", "timeout", "partition_ttl")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    PARTITION_TTL_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: str
    values: _containers.RepeatedScalarFieldContainer[bytes]
    timeout: float
    partition_ttl: float
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[str] = ..., values: _Optional[_Iterable[bytes]] = ..., timeout: _Optional[float] = ..., partition_ttl: _Optional[float] = ...) -> None: ...

class QueuePutResponse(_message.Message):
    __slots__ = ("full",)
    FULL_FIELD_NUMBER: _ClassVar[int]
    full: bool
    def __init__(self, full: _Optional[bool] = ...) -> None: ...

class QueueGetRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "n_values", "timeout")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    N_VALUES_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: str
    n_values: int
    timeout: float
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[str] = ..., n_values: _Optional[int] = ..., timeout: _Optional[float] = ...) -> None: ...

class QueueGetResponse(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, values: _Optional[_Iterable[bytes]] = ...) -> None: ...

class QueueLenRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "total")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: str
    total: bool
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[str] = ..., total: _Optional[bool] = ...) -> None: ...

class QueueLenResponse(_message.Message):
    __slots__ = ("len",)
    LEN_FIELD_NUMBER: _ClassVar[int]
    len: int
    def __init__(self, len: _Optional[int] = ...) -> None: ...

class QueueClearRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "all")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: str
    all: bool
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[str] = ..., all: _Optional[bool] = ...) -> None: ...

class QueueItem(_message.Message):
    __slots__ = ("item_id", "value")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    item_id: int
    value: bytes
    def __init__(self, item_id: _Optional[int] = ..., value: _Optional[bytes] = ...) -> None: ...

class QueueNextItemsRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "after_item_id", "max_items", "timeout")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    AFTER_ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: str
    after_item_id: int
    max_items: int
    timeout: float
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[str] = ..., after_item_id: _Optional[int] = ..., max_items: _Optional[int] = ..., timeout: _Optional[float] = ...) -> None: ...

class QueueNextItemsResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[QueueItem]
    def __init__(self, items: _Optional[_Iterable[_Union[QueueItem, _Mapping]]] = ...) -> None: ...

class SecretCreateRequest(_message.Message):
    __slots__ = ("name", "environment_name", "env", "overwrite", "merge")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    MERGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    environment_name: str
    env: _containers.ScalarMap[str, str]
    overwrite: bool
    merge: bool
    def __init__(self, name: _Optional[str] = ..., environment_name: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., overwrite: _Optional[bool] = ..., merge: _Optional[bool] = ...) -> None: ...

class SecretCreateResponse(_message.Message):
    __slots__ = ("secret_id",)
    SECRET_ID_FIELD_NUMBER: _ClassVar[int]
    secret_id: str
    def __init__(self, secret_id: _Optional[str] = ...) -> None: ...

class VolumeFile(_message.Message):
    __slots__ = ("path", "blob_id", "size", "mode", "mtime", "type")
    PATH_FIELD_NUMBER: _ClassVar[int]
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MTIME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    path: str
    blob_id: str
    size: int
    mode: int
    mtime: float
    type: FileType
    def __init__(self, path: _Optional[str] = ..., blob_id: _Optional[str] = ..., size: _Optional[int] = ..., mode: _Optional[int] = ..., mtime: _Optional[float] = ..., type: _Optional[_Union[FileType, str]] = ...) -> None: ...

class VolumeGetManifestRequest(_message.Message):
    __slots__ = ("volume_id",)
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    def __init__(self, volume_id: _Optional[str] = ...) -> None: ...

class VolumeManifest(_message.Message):
    __slots__ = ("version", "files")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    version: int
    files: _containers.RepeatedCompositeFieldContainer[VolumeFile]
    def __init__(self, version: _Optional[int] = ..., files: _Optional[_Iterable[_Union[VolumeFile, _Mapping]]] = ...) -> None: ...

class VolumeCommitRequest(_message.Message):
    __slots__ = ("volume_id", "puts", "deletes", "overwrite")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    PUTS_FIELD_NUMBER: _ClassVar[int]
    DELETES_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    puts: _containers.RepeatedCompositeFieldContainer[VolumeFile]
    deletes: _containers.RepeatedScalarFieldContainer[str]
    overwrite: bool
    def __init__(self, volume_id: _Optional[str] = ..., puts: _Optional[_Iterable[_Union[VolumeFile, _Mapping]]] = ..., deletes: _Optional[_Iterable[str]] = ..., overwrite: _Optional[bool] = ...) -> None: ...

class VolumeCommitResponse(_message.Message):
    __slots__ = ("version", "missing_blob_ids")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MISSING_BLOB_IDS_FIELD_NUMBER: _ClassVar[int]
    version: int
    missing_blob_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, version: _Optional[int] = ..., missing_blob_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class VolumeListFilesRequest(_message.Message):
    __slots__ = ("volume_id", "path", "recursive")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    path: str
    recursive: bool
    def __init__(self, volume_id: _Optional[str] = ..., path: _Optional[str] = ..., recursive: _Optional[bool] = ...) -> None: ...

class VolumeListFilesResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[VolumeFile]
    def __init__(self, entries: _Optional[_Iterable[_Union[VolumeFile, _Mapping]]] = ...) -> None: ...

class VolumeRemoveFileRequest(_message.Message):
    __slots__ = ("volume_id", "path", "recursive")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    path: str
    recursive: bool
    def __init__(self, volume_id: _Optional[str] = ..., path: _Optional[str] = ..., recursive: _Optional[bool] = ...) -> None: ...

class VolumeCopyFilesRequest(_message.Message):
    __slots__ = ("volume_id", "src_paths", "dst_path", "recursive")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    SRC_PATHS_FIELD_NUMBER: _ClassVar[int]
    DST_PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    src_paths: _containers.RepeatedScalarFieldContainer[str]
    dst_path: str
    recursive: bool
    def __init__(self, volume_id: _Optional[str] = ..., src_paths: _Optional[_Iterable[str]] = ..., dst_path: _Optional[str] = ..., recursive: _Optional[bool] = ...) -> None: ...

class VolumeReadFileRequest(_message.Message):
    __slots__ = ("volume_id", "path")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    path: str
    def __init__(self, volume_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class SandboxCreateRequest(_message.Message):
    __slots__ = ("app_id", "definition", "entrypoint_args", "idle_timeout", "workdir", "name", "encrypted_ports", "pty", "inbound_cidr_allowlist")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_ARGS_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_PORTS_FIELD_NUMBER: _ClassVar[int]
    PTY_FIELD_NUMBER: _ClassVar[int]
    INBOUND_CIDR_ALLOWLIST_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    definition: FunctionDefinition
    entrypoint_args: _containers.RepeatedScalarFieldContainer[str]
    idle_timeout: float
    workdir: str
    name: str
    encrypted_ports: _containers.RepeatedScalarFieldContainer[int]
    pty: bool
    inbound_cidr_allowlist: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, app_id: _Optional[str] = ..., definition: _Optional[_Union[FunctionDefinition, _Mapping]] = ..., entrypoint_args: _Optional[_Iterable[str]] = ..., idle_timeout: _Optional[float] = ..., workdir: _Optional[str] = ..., name: _Optional[str] = ..., encrypted_ports: _Optional[_Iterable[int]] = ..., pty: _Optional[bool] = ..., inbound_cidr_allowlist: _Optional[_Iterable[str]] = ...) -> None: ...

class SandboxGetRequest(_message.Message):
    __slots__ = ("sandbox_id", "app_name", "name")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    app_name: str
    name: str
    def __init__(self, sandbox_id: _Optional[str] = ..., app_name: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class SandboxInfo(_message.Message):
    __slots__ = ("sandbox_id", "app_id", "app_name", "name", "tags", "state", "done", "returncode", "result", "reason", "worker_id", "created_at", "tunnels")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    RETURNCODE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TUNNELS_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    app_id: str
    app_name: str
    name: str
    tags: _containers.ScalarMap[str, str]
    state: str
    done: bool
    returncode: int
    result: str
    reason: str
    worker_id: str
    created_at: float
    tunnels: _containers.RepeatedCompositeFieldContainer[SandboxTunnel]
    def __init__(self, sandbox_id: _Optional[str] = ..., app_id: _Optional[str] = ..., app_name: _Optional[str] = ..., name: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., state: _Optional[str] = ..., done: _Optional[bool] = ..., returncode: _Optional[int] = ..., result: _Optional[str] = ..., reason: _Optional[str] = ..., worker_id: _Optional[str] = ..., created_at: _Optional[float] = ..., tunnels: _Optional[_Iterable[_Union[SandboxTunnel, _Mapping]]] = ...) -> None: ...

class SandboxTunnel(_message.Message):
    __slots__ = ("port", "path", "host_label")
    PORT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    HOST_LABEL_FIELD_NUMBER: _ClassVar[int]
    port: int
    path: str
    host_label: str
    def __init__(self, port: _Optional[int] = ..., path: _Optional[str] = ..., host_label: _Optional[str] = ...) -> None: ...

class SandboxListRequest(_message.Message):
    __slots__ = ("app_id", "tags", "include_finished")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FINISHED_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    tags: _containers.ScalarMap[str, str]
    include_finished: bool
    def __init__(self, app_id: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., include_finished: _Optional[bool] = ...) -> None: ...

class SandboxListResponse(_message.Message):
    __slots__ = ("sandboxes",)
    SANDBOXES_FIELD_NUMBER: _ClassVar[int]
    sandboxes: _containers.RepeatedCompositeFieldContainer[SandboxInfo]
    def __init__(self, sandboxes: _Optional[_Iterable[_Union[SandboxInfo, _Mapping]]] = ...) -> None: ...

class SandboxWaitRequest(_message.Message):
    __slots__ = ("sandbox_id", "timeout")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    timeout: float
    def __init__(self, sandbox_id: _Optional[str] = ..., timeout: _Optional[float] = ...) -> None: ...

class SandboxCreateConnectTokenRequest(_message.Message):
    __slots__ = ("sandbox_id", "port", "user_metadata")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    USER_METADATA_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    port: int
    user_metadata: str
    def __init__(self, sandbox_id: _Optional[str] = ..., port: _Optional[int] = ..., user_metadata: _Optional[str] = ...) -> None: ...

class SandboxCreateConnectTokenResponse(_message.Message):
    __slots__ = ("path", "host_label", "token")
    PATH_FIELD_NUMBER: _ClassVar[int]
    HOST_LABEL_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    path: str
    host_label: str
    token: str
    def __init__(self, path: _Optional[str] = ..., host_label: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class SandboxTagsSetRequest(_message.Message):
    __slots__ = ("sandbox_id", "tags")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    tags: _containers.ScalarMap[str, str]
    def __init__(self, sandbox_id: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SandboxRelayUp(_message.Message):
    __slots__ = ("sandbox_id", "exec_id", "fd", "data", "eof", "exited", "exit_code", "error", "keepalive")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EOF_FIELD_NUMBER: _ClassVar[int]
    EXITED_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    KEEPALIVE_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    exec_id: str
    fd: int
    data: bytes
    eof: bool
    exited: bool
    exit_code: int
    error: str
    keepalive: bool
    def __init__(self, sandbox_id: _Optional[str] = ..., exec_id: _Optional[str] = ..., fd: _Optional[int] = ..., data: _Optional[bytes] = ..., eof: _Optional[bool] = ..., exited: _Optional[bool] = ..., exit_code: _Optional[int] = ..., error: _Optional[str] = ..., keepalive: _Optional[bool] = ...) -> None: ...

class SandboxRelayDown(_message.Message):
    __slots__ = ("exec_id", "start", "argv", "workdir", "env", "pty", "timeout", "stdin", "stdin_eof", "kill", "builtin", "rows", "cols")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    ARGV_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    PTY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    STDIN_EOF_FIELD_NUMBER: _ClassVar[int]
    KILL_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    start: bool
    argv: _containers.RepeatedScalarFieldContainer[str]
    workdir: str
    env: _containers.ScalarMap[str, str]
    pty: bool
    timeout: float
    stdin: bytes
    stdin_eof: bool
    kill: bool
    builtin: str
    rows: int
    cols: int
    def __init__(self, exec_id: _Optional[str] = ..., start: _Optional[bool] = ..., argv: _Optional[_Iterable[str]] = ..., workdir: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., pty: _Optional[bool] = ..., timeout: _Optional[float] = ..., stdin: _Optional[bytes] = ..., stdin_eof: _Optional[bool] = ..., kill: _Optional[bool] = ..., builtin: _Optional[str] = ..., rows: _Optional[int] = ..., cols: _Optional[int] = ...) -> None: ...

class ContainerExecRequest(_message.Message):
    __slots__ = ("container_id", "argv", "workdir", "secret_ids", "timeout", "pty", "builtin", "env")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    ARGV_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    SECRET_IDS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    PTY_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    argv: _containers.RepeatedScalarFieldContainer[str]
    workdir: str
    secret_ids: _containers.RepeatedScalarFieldContainer[str]
    timeout: float
    pty: bool
    builtin: str
    env: _containers.ScalarMap[str, str]
    def __init__(self, container_id: _Optional[str] = ..., argv: _Optional[_Iterable[str]] = ..., workdir: _Optional[str] = ..., secret_ids: _Optional[_Iterable[str]] = ..., timeout: _Optional[float] = ..., pty: _Optional[bool] = ..., builtin: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ContainerExecResponse(_message.Message):
    __slots__ = ("exec_id",)
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    def __init__(self, exec_id: _Optional[str] = ...) -> None: ...

class ContainerExecGetOutputRequest(_message.Message):
    __slots__ = ("exec_id", "fd", "offset", "timeout")
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    fd: int
    offset: int
    timeout: float
    def __init__(self, exec_id: _Optional[str] = ..., fd: _Optional[int] = ..., offset: _Optional[int] = ..., timeout: _Optional[float] = ...) -> None: ...

class ContainerExecGetOutputResponse(_message.Message):
    __slots__ = ("data", "next_offset", "eof")
    DATA_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    EOF_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    next_offset: int
    eof: bool
    def __init__(self, data: _Optional[bytes] = ..., next_offset: _Optional[int] = ..., eof: _Optional[bool] = ...) -> None: ...

class ContainerExecPutInputRequest(_message.Message):
    __slots__ = ("exec_id", "data", "eof", "rows", "cols")
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EOF_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    data: bytes
    eof: bool
    rows: int
    cols: int
    def __init__(self, exec_id: _Optional[str] = ..., data: _Optional[bytes] = ..., eof: _Optional[bool] = ..., rows: _Optional[int] = ..., cols: _Optional[int] = ...) -> None: ...

class ContainerExecWaitRequest(_message.Message):
    __slots__ = ("exec_id", "timeout")
    EXEC_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    exec_id: str
    timeout: float
    def __init__(self, exec_id: _Optional[str] = ..., timeout: _Optional[float] = ...) -> None: ...

class ContainerExecWaitResponse(_message.Message):
    __slots__ = ("done", "returncode")
    DONE_FIELD_NUMBER: _ClassVar[int]
    RETURNCODE_FIELD_NUMBER: _ClassVar[int]
    done: bool
    returncode: int
    def __init__(self, done: _Optional[bool] = ..., returncode: _Optional[int] = ...) -> None: ...

class ContainerListRequest(_message.Message):
    __slots__ = ("include_finished",)
    INCLUDE_FINISHED_FIELD_NUMBER: _ClassVar[int]
    include_finished: bool
    def __init__(self, include_finished: _Optional[bool] = ...) -> None: ...

class ContainerSummary(_message.Message):
    __slots__ = ("container_id", "app_id", "app_name", "function_name", "sandbox", "state", "worker_id", "started_at")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    app_id: str
    app_name: str
    function_name: str
    sandbox: bool
    state: str
    worker_id: str
    started_at: float
    def __init__(self, container_id: _Optional[str] = ..., app_id: _Optional[str] = ..., app_name: _Optional[str] = ..., function_name: _Optional[str] = ..., sandbox: _Optional[bool] = ..., state: _Optional[str] = ..., worker_id: _Optional[str] = ..., started_at: _Optional[float] = ...) -> None: ...

class ContainerListResponse(_message.Message):
    __slots__ = ("containers",)
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    containers: _containers.RepeatedCompositeFieldContainer[ContainerSummary]
    def __init__(self, containers: _Optional[_Iterable[_Union[ContainerSummary, _Mapping]]] = ...) -> None: ...

class ContainerStopRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...
