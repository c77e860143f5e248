"""mooncake.store: Mooncake's MooncakeDistributedStore over libmooncake_client.

Code written for ``from mooncake.store import MooncakeDistributedStore,
ReplicateConfig`` runs against this store: the same method names, argument
order, keyword names, defaults and return conventions (0 or a negative
ErrorCode; ``get`` returns ``bytes``, ``b""`` on a miss; ``is_exist`` 1/0/
negative; batch calls return lists). Wrong keyword names and wrong argument
types raise ``TypeError``. docs/python.md lists every method.

Every call goes through the C client with the GIL released, so one store
object may be used from many threads at once."""
import json
import logging
import os
import re

from . import _store

__all__ = ["MooncakeDistributedStore", "ReplicateConfig", "SoftPinAction", "BufferHandle",
           "ErrorCode", "ReplicaDescriptor", "MooncakeHostMemAllocator"]

log = logging.getLogger("mooncake.store")

MB = 1 << 20
DEFAULT_MASTER = "127.0.0.1:50051"


class ErrorCode:
    """Mooncake's ErrorCode numbers used here."""
    OK = 0
    INTERNAL_ERROR = -1
    BUFFER_OVERFLOW = -10
    INVALID_KEY = -400
    INVALID_PARAMS = -600
    OBJECT_NOT_FOUND = -704
    OBJECT_HAS_LEASE = -706
    RPC_FAIL = -900

    @staticmethod
    def name(code):
        return _store.strerror(int(code))


class SoftPinAction:
    """Mooncake's soft-pin actions (the names engines pass around)."""
    NONE = 0
    PIN = 1
    UNPIN = 2


class MooncakeHostMemAllocator:
    """Host memory for zero-copy transfers, not tied to one store: every
    store of this process moves bytes to and from it directly (one copy by the
    store service, none through staging). alloc returns an address (0 on
    failure); free returns 0 or a negative ErrorCode."""

    def alloc(self, size):
        return _store.host_alloc(_int(size, "size"))

    def free(self, ptr):
        return _store.host_free(_int(ptr, "ptr"))


class _BufferDescriptor:
    def __init__(self, endpoint, offset, size):
        self.transport_endpoint_ = endpoint
        self.buffer_address_ = offset  # the value's offset in its segment
        self.size_ = size


class _MemoryDescriptor:
    def __init__(self, endpoint, offset, size):
        self.buffer_descriptor = _BufferDescriptor(endpoint, offset, size)


class ReplicaDescriptor:
    """One replica of an object, as get_replica_desc lists it."""

    MEMORY, DISK = 0, 1

    def __init__(self, t):
        self.type, self.segment_name, self.transport_endpoint, self.offset, self.size = t
        self.status = "COMPLETE"

    def is_memory_replica(self):
        return self.type == self.MEMORY

    def is_disk_replica(self):
        return self.type == self.DISK

    def is_local_disk_replica(self):
        return False  # the SSD tier is not built yet: no disk replicas exist

    def get_memory_descriptor(self):
        if not self.is_memory_replica():
            raise RuntimeError("not a memory replica")
        return _MemoryDescriptor(self.transport_endpoint, self.offset, self.size)

    def __repr__(self):
        kind = "memory" if self.is_memory_replica() else "disk"
        return (f"ReplicaDescriptor({kind}, segment={self.segment_name!r}, "
                f"offset={self.offset}, size={self.size})")


class ReplicateConfig:
    """Where and how many times a put stores its value."""

    def __init__(self):
        self.replica_num = 1
        self.with_soft_pin = False
        self.with_hard_pin = False
        self.preferred_segment = ""
        self.preferred_segments = []
        self.group_ids = []

    def __repr__(self):
        return (f"ReplicateConfig(replica_num={self.replica_num}, "
                f"with_soft_pin={self.with_soft_pin}, with_hard_pin={self.with_hard_pin}, "
                f"preferred_segment={self.preferred_segment!r}, "
                f"preferred_segments={self.preferred_segments!r})")

    def _wire(self):
        if not isinstance(self.replica_num, int) or isinstance(self.replica_num, bool) or \
                self.replica_num < 0:
            raise TypeError("ReplicateConfig.replica_num must be a non-negative int")
        names = list(self.preferred_segments or [])
        if self.preferred_segment:
            names.insert(0, self.preferred_segment)
        for n in names:
            if not isinstance(n, str):
                raise TypeError("preferred segments are str")
        return (self.replica_num, bool(self.with_soft_pin), bool(self.with_hard_pin), tuple(names))


def _cfg(config, upsert=False):
    if config is None:
        return (0, False, False, (), True) if upsert else None
    if not isinstance(config, ReplicateConfig):
        raise TypeError(f"config must be a ReplicateConfig, not {type(config).__name__}")
    return config._wire() + ((True,) if upsert else ())


def _key(key):
    if not isinstance(key, str):
        raise TypeError(f"key must be str, not {type(key).__name__}")
    return key


def _keys(keys):
    if isinstance(keys, (str, bytes)):
        raise TypeError("keys must be a list of str")
    t = tuple(keys)
    for k in t:
        _key(k)
    return t


def _int(v, what):
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"{what} must be an int, not {type(v).__name__}")
    if v < 0:
        raise ValueError(f"{what} must not be negative")
    return v


def _ints(vs, what):
    if isinstance(vs, (str, bytes)):
        raise TypeError(f"{what} must be a list of int")
    return tuple(_int(v, what) for v in vs)


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?i?b?)?\s*$", re.I)
_UNITS = {"": 0, "b": 0, "k": 10, "kb": 10, "kib": 10, "m": 20, "mb": 20, "mib": 20, "g": 30,
          "gb": 30, "gib": 30, "t": 40, "tb": 40, "tib": 40}


def parse_size(v, what="size"):
    """Bytes from an int or a string such as "16MB", "4gb", "1.5GB" (binary
    units, as Mooncake's). Anything else raises ValueError naming what."""
    if isinstance(v, bool):
        raise ValueError(f"{what}: {v!r} is not a size")
    if isinstance(v, int):
        if v < 0:
            raise ValueError(f"{what}: {v} is negative")
        return v
    if isinstance(v, float) and v >= 0 and v == int(v):
        return int(v)
    if isinstance(v, str):
        m = _SIZE.match(v)
        if m and (m.group(2) or "").lower() in _UNITS:
            n = float(m.group(1)) * (1 << _UNITS[(m.group(2) or "").lower()])
            if n == int(n):
                return int(n)
    raise ValueError(f"{what}: {v!r} is not a size (an integer, or a number with a unit "
                     "such as \"16MB\", \"4gb\", \"1.5GB\")")


# Mooncake's config spellings -> setup()'s argument names.
_ALIASES = {
    "local_hostname": "local_hostname",
    "metadata_server": "metadata_server",
    "global_segment_size": "global_segment_size",
    "local_buffer_size": "local_buffer_size",
    "protocol": "protocol",
    "rdma_devices": "rdma_devices",
    "device_name": "rdma_devices",
    "master_server_addr": "master_server_addr",
    "master_server_address": "master_server_addr",
    "enable_ssd_offload": "enable_ssd_offload",
    "ssd_offload_path": "ssd_offload_path",
}
_ENV = {
    "MOONCAKE_LOCAL_HOSTNAME": "local_hostname",
    "MOONCAKE_TE_META_DATA_SERVER": "metadata_server",
    "MOONCAKE_GLOBAL_SEGMENT_SIZE": "global_segment_size",
    "MOONCAKE_LOCAL_BUFFER_SIZE": "local_buffer_size",
    "MOONCAKE_PROTOCOL": "protocol",
    "MOONCAKE_DEVICE": "rdma_devices",
    "MOONCAKE_MASTER": "master_server_addr",
}
# Mooncake setup() keywords whose features this store lacks: accepted, with
# one warning each (docs/python.md).
_NOT_YET = ("engine", "tenant_id", "enable_client_http_server", "client_http_port")
# setup() keywords beyond the positional ones (Mooncake's SSD offload).
_EXTRA = ("enable_ssd_offload", "ssd_offload_path")


def _from_config(d):
    out = {}
    for k, v in d.items():
        if k in _ALIASES:
            out[_ALIASES[k]] = v
        elif k in _NOT_YET:
            out[k] = v
        else:
            log.warning("mooncake config: ignoring unknown setting %r", k)
    return out


def config_from_env():
    """Settings from MOONCAKE_CONFIG_PATH (JSON) and the MOONCAKE_* variables
    (the variables win), with Mooncake's spellings."""
    out = {}
    path = os.environ.get("MOONCAKE_CONFIG_PATH")
    if path:
        with open(path) as f:
            data = json.load(f)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object")
        out.update(_from_config(data))
    for var, name in _ENV.items():
        if os.environ.get(var):
            out[name] = os.environ[var]
    return out


# MC_STORE_MEMCPY asks Mooncake to copy local transfers with memcpy; here a
# value on this host's segment is always copied with memcpy by the store
# service, so the setting is validated and otherwise has nothing to switch.
_BOOLS = ("1", "0", "true", "false", "yes", "no", "on", "off", "")


def _check_memcpy_env():
    v = os.environ.get("MC_STORE_MEMCPY")
    if v is not None and v.strip().lower() not in _BOOLS:
        raise ValueError(f"MC_STORE_MEMCPY={v!r}: expected true/false, 1/0, yes/no, on/off")


# A value read by get_buffer (the C type mooncake._store.Buffer): the buffer
# protocol, read-only (memoryview(h), numpy.frombuffer(h)), ptr(), size(),
# len(), is_view(), release() and `with`. Zero-copy when the value lives in
# this host's store service: the bytes are the service's segment, mapped
# read-only, held at the master until released (or collected). release()
# refuses while a memoryview of it is open; a released handle raises.
BufferHandle = _store.Buffer


class MooncakeDistributedStore:
    """A handle to the store through this host's store service (attached, or
    started for this process by setup(): docs/python.md)."""

    def __init__(self):
        self._c = None

    # ---- lifecycle ----
    def setup(self, local_hostname=None, metadata_server=None, global_segment_size=16 * MB,
              local_buffer_size=16 * MB, protocol="tcp", rdma_devices="",
              master_server_addr=DEFAULT_MASTER, **kwargs):
        """Mooncake's setup(local_hostname, metadata_server, ...) or
        setup(config_dict). Returns 0 or a negative ErrorCode."""
        if isinstance(local_hostname, dict):
            if metadata_server is not None or kwargs:
                raise TypeError("setup(config) takes the config dict alone")
            args = dict(global_segment_size=16 * MB, local_buffer_size=16 * MB,
                        protocol="tcp", rdma_devices="", master_server_addr=DEFAULT_MASTER)
            args.update(_from_config(local_hostname))
        else:
            args = dict(kwargs)
            for k in kwargs:
                if k not in _NOT_YET and k not in _EXTRA:
                    raise TypeError(f"setup() got an unexpected keyword argument '{k}'")
            args.update(local_hostname=local_hostname, metadata_server=metadata_server,
                        global_segment_size=global_segment_size,
                        local_buffer_size=local_buffer_size, protocol=protocol,
                        rdma_devices=rdma_devices, master_server_addr=master_server_addr)
            if local_hostname is None or metadata_server is None:
                env = config_from_env()
                for k in ("local_hostname", "metadata_server"):
                    if args[k] is None:
                        args[k] = env.get(k)
        for k in _NOT_YET:
            if k in args:
                log.warning("mooncake.store: setup(%s=...) is not supported by this store; "
                            "ignored", k)
        for k in ("local_hostname", "metadata_server", "protocol", "rdma_devices",
                  "master_server_addr"):
            v = args.get(k, "" if k == "rdma_devices" else None)
            if v is None:
                raise TypeError(f"setup() needs {k}")
            if not isinstance(v, str):
                raise TypeError(f"{k} must be str, not {type(v).__name__}")
            args[k] = v
        _check_memcpy_env()
        gss = parse_size(args.get("global_segment_size", 16 * MB), "global_segment_size")
        lbs = parse_size(args.get("local_buffer_size", 16 * MB), "local_buffer_size")
        offload = args.get("enable_ssd_offload", False)
        if isinstance(offload, str):
            offload = offload.strip().lower() in ("1", "true", "yes", "on")
        ssd_path = args.get("ssd_offload_path") or None
        if ssd_path is not None and not isinstance(ssd_path, str):
            raise TypeError(f"ssd_offload_path must be str, not {type(ssd_path).__name__}")
        if self._c is not None:
            return 0
        rc, c = _store.setup(args["local_hostname"], args["metadata_server"], gss, lbs,
                             args["protocol"] or "tcp", args["rdma_devices"],
                             args["master_server_addr"], bool(offload), ssd_path)
        if rc == 0:
            self._c = c
        else:
            log.error("mooncake.store: setup failed: %s (%d)", _store.strerror(rc), rc)
        return rc

    def setup_dummy(self, mem_pool_size, local_buffer_size, server_address):
        """Attaches to a running store service: server_address is Mooncake's
        "127.0.0.1:50052" form (the service's --client_port on this host) or
        a socket path."""
        _check_memcpy_env()
        parse_size(mem_pool_size, "mem_pool_size")
        lbs = parse_size(local_buffer_size, "local_buffer_size")
        if not isinstance(server_address, str):
            raise TypeError("server_address must be str")
        rc, c = _store.connect(server_address, lbs)
        if rc == 0:
            self._c = c
        return rc

    def init_all(self, protocol, device_name, mount_segment_size=16 * MB):
        """Mooncake's transfer-engine-only mode: not provided here."""
        log.warning("mooncake.store: init_all is not supported by this store")
        return ErrorCode.INVALID_PARAMS

    initAll = init_all

    def close(self):
        if self._c is not None:
            self._c.close()
            self._c = None
        return 0

    def _h(self):
        if self._c is None:
            raise RuntimeError("the store is not set up (call setup() first)")
        return self._c

    def get_hostname(self):
        return self._h().get_hostname()

    def health_check(self):
        return self._h().health()

    # ---- data ----
    def put(self, key, value, config=None):
        return self._h().put(_key(key), value, _cfg(config))

    def put_parts(self, key, *parts, config=None):
        return self._h().put_parts(_key(key), tuple(parts), _cfg(config))

    def put_batch(self, keys, values, config=None):
        return self._h().put_batch(_keys(keys), tuple(values), _cfg(config))

    def upsert(self, key, value, config=None):
        return self._h().put(_key(key), value, _cfg(config, True))

    def upsert_parts(self, key, *parts, config=None):
        return self._h().put_parts(_key(key), tuple(parts), _cfg(config, True))

    def upsert_batch(self, keys, values, config=None):
        return self._h().put_batch(_keys(keys), tuple(values), _cfg(config, True))

    def upsert_from(self, key, buffer_ptr, size, config=None):
        return self._h().put_from(_key(key), _int(buffer_ptr, "buffer_ptr"), _int(size, "size"),
                                  _cfg(config, True))

    def batch_upsert_from(self, keys, buffer_ptrs, sizes, config=None):
        return self._h().batch_put_from(_keys(keys), _ints(buffer_ptrs, "buffer_ptrs"),
                                        _ints(sizes, "sizes"), _cfg(config, True))

    def get(self, key):
        v = self._h().get(_key(key))
        return v if isinstance(v, bytes) else b""

    def get_batch(self, keys):
        h = self._h()
        return [v if isinstance(v, bytes) else b"" for v in (h.get(k) for k in _keys(keys))]

    def get_buffer(self, key):
        """A BufferHandle of the value, or None on a miss."""
        v = self._h().batch_get_buffer((_key(key),))[0]
        return v if isinstance(v, BufferHandle) else None

    def batch_get_buffer(self, keys):
        return [v if isinstance(v, BufferHandle) else None
                for v in self._h().batch_get_buffer(_keys(keys))]

    def put_from(self, key, buffer_ptr, size, config=None):
        return self._h().put_from(_key(key), _int(buffer_ptr, "buffer_ptr"), _int(size, "size"),
                                  _cfg(config))

    def get_into(self, key, buffer_ptr, size):
        return self._h().get_into(_key(key), _int(buffer_ptr, "buffer_ptr"), _int(size, "size"))

    def batch_put_from(self, keys, buffer_ptrs, sizes, config=None):
        return self._h().batch_put_from(_keys(keys), _ints(buffer_ptrs, "buffer_ptrs"),
                                        _ints(sizes, "sizes"), _cfg(config))

    def batch_get_into(self, keys, buffer_ptrs, sizes):
        return self._h().batch_get_into(_keys(keys), _ints(buffer_ptrs, "buffer_ptrs"),
                                        _ints(sizes, "sizes"))

    def batch_put_from_multi_buffers(self, keys, all_buffer_ptrs, all_sizes, config=None):
        return self._h().batch_put_from_multi_buffers(
            _keys(keys), tuple(_ints(p, "all_buffer_ptrs") for p in all_buffer_ptrs),
            tuple(_ints(s, "all_sizes") for s in all_sizes), _cfg(config))

    def batch_get_into_multi_buffers(self, keys, all_buffer_ptrs, all_sizes):
        return self._h().batch_get_into_multi_buffers(
            _keys(keys), tuple(_ints(p, "all_buffer_ptrs") for p in all_buffer_ptrs),
            tuple(_ints(s, "all_sizes") for s in all_sizes))

    def get_into_ranges(self, buffer_ptrs, all_keys, all_dst_offsets, all_src_offsets,
                        all_sizes):
        """Mooncake's ranged read: for each buffer i, key j of all_keys[i] and
        fragment k, copies all_sizes[i][j][k] bytes from offset
        all_src_offsets[i][j][k] of that object to buffer_ptrs[i] +
        all_dst_offsets[i][j][k]. Returns results[i][j][k]: the bytes copied
        or a negative ErrorCode (-704 missing key, -600 a range past the
        object's end or shapes that do not match). This release reads each
        distinct object once, whole, into a shared buffer, then copies the
        ranges out (one copy more than Mooncake's)."""
        import ctypes
        ptrs = _ints(buffer_ptrs, "buffer_ptrs")
        shape = (all_keys, all_dst_offsets, all_src_offsets, all_sizes)
        if any(len(x) != len(ptrs) for x in shape):
            return [[[ErrorCode.INVALID_PARAMS]] for _ in ptrs]
        wanted = sorted({_key(k) for keys in all_keys for k in keys})
        sizes = dict(zip(wanted, self._h().batch_get_size(tuple(wanted)))) if wanted else {}
        present = [k for k in wanted if sizes[k] > 0]
        total = sum(sizes[k] for k in present)
        base = self._h().alloc_buffer(total) if total else 0
        if total and not base:
            return [[[ErrorCode.INTERNAL_ERROR] * len(f) for f in szs] for szs in all_sizes]
        try:
            where, off = {}, 0
            for k in present:
                where[k] = off
                off += sizes[k]
            got = dict(zip(present, self._h().batch_get_into(
                tuple(present), tuple(base + where[k] for k in present),
                tuple(sizes[k] for k in present)))) if present else {}
            out = []
            for i, keys in enumerate(all_keys):
                per_buf = []
                if not (len(keys) == len(all_dst_offsets[i]) == len(all_src_offsets[i]) ==
                        len(all_sizes[i])):
                    out.append([[ErrorCode.INVALID_PARAMS]])
                    continue
                for j, k in enumerate(keys):
                    d, s_, n = all_dst_offsets[i][j], all_src_offsets[i][j], all_sizes[i][j]
                    if not (len(d) == len(s_) == len(n)):
                        per_buf.append([ErrorCode.INVALID_PARAMS])
                        continue
                    frag = []
                    for dd, ss, nn in zip(d, s_, n):
                        code = sizes.get(k, ErrorCode.OBJECT_NOT_FOUND)
                        if code < 0:
                            frag.append(code)
                        elif got.get(k, -1) != code:
                            frag.append(got.get(k, ErrorCode.OBJECT_NOT_FOUND))
                        elif _int(ss, "src offset") + _int(nn, "size") > code:
                            frag.append(ErrorCode.INVALID_PARAMS)
                        else:
                            ctypes.memmove(ptrs[i] + _int(dd, "dst offset"),
                                           base + where[k] + ss, nn)
                            frag.append(nn)
                    per_buf.append(frag)
                out.append(per_buf)
            return out
        finally:
            if base:
                self._h().free_buffer(base)

    def register_buffer(self, buffer_ptr, size):
        return self._h().register_buffer(_int(buffer_ptr, "buffer_ptr"), _int(size, "size"))

    def unregister_buffer(self, buffer_ptr):
        return self._h().unregister_buffer(_int(buffer_ptr, "buffer_ptr"))

    def alloc_from_mem_pool(self, size):
        """Shared memory the store service moves bytes to and from directly
        (put_from/get_into on it cost one copy). Returns its address, 0 on
        failure."""
        return self._h().alloc_buffer(_int(size, "size"))

    def free_to_mem_pool(self, buffer_ptr):
        return self._h().free_buffer(_int(buffer_ptr, "buffer_ptr"))

    # ---- keys ----
    def is_exist(self, key):
        return self._h().batch_is_exist((_key(key),))[0]

    isExist = is_exist

    def batch_is_exist(self, keys):
        return self._h().batch_is_exist(_keys(keys))

    def get_size(self, key):
        return self._h().batch_get_size((_key(key),))[0]

    def remove(self, key, force=False):
        return self._h().batch_remove((_key(key),), bool(force))[0]

    def batch_remove(self, keys, force=False):
        return self._h().batch_remove(_keys(keys), bool(force))

    def remove_by_regex(self, regex, force=False):
        if not isinstance(regex, str):
            raise TypeError("regex must be str")
        return self._h().remove_many(regex, bool(force))

    def remove_all(self, force=False):
        return self._h().remove_many(None, bool(force))

    def batch_replica_clear(self, keys, segment_name=""):
        """Drops the replicas of keys (put through this store service, not
        being read) on segment_name, or everywhere when it is empty; an object
        left without replicas is removed. Returns the keys cleared."""
        if not isinstance(segment_name, str):
            raise TypeError("segment_name must be str")
        keys = _keys(keys)
        codes = self._h().batch_replica_clear(keys, segment_name)
        return [k for k, code in zip(keys, codes) if code == 0]

    def batch_get_replica_desc(self, keys):
        """{key: [ReplicaDescriptor, ...]} for the keys that exist."""
        keys = _keys(keys)
        out = {}
        for k, (code, _size, reps) in zip(keys, self._h().batch_get_replica_desc(keys)):
            if code == 0:
                out[k] = [ReplicaDescriptor(r) for r in reps]
        return out

    def get_replica_desc(self, key):
        """[ReplicaDescriptor, ...] of key ([] when it does not exist)."""
        return self.batch_get_replica_desc([_key(key)]).get(key, [])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
