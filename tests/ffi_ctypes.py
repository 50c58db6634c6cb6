"""Python's ctypes loads libsluice.so (it did not start with jemalloc), mirrors
sluice_options by hand the way a binding would, does puts and a get, lists the keys
with their newest values (sluice_series_info mirrored by hand), and reads the
closed writer's last live stats (sluice_stats_read_live) into Python's json module.
Usage: python3 ffi_ctypes.py LIBSLUICE.so DIR"""
import ctypes as C
import sys

lib = C.CDLL(sys.argv[1])


class Options(C.Structure):
    # a binding's mirror of sluice_options as 0.2.0 first laid it out: the library has grown
    # since (ring_private), and the fields this mirror lacks take their defaults
    _fields_ = [("size", C.c_uint32), ("reserved0_", C.c_uint32),
                ("ring_bytes", C.c_size_t), ("segment_bytes", C.c_size_t),
                ("batch_max_bytes", C.c_size_t), ("linger_us", C.c_uint32),
                ("default_ack", C.c_int), ("full_policy", C.c_int),
                ("put_timeout_ms", C.c_uint32), ("cold_map_bytes", C.c_size_t),
                ("retention_ns", C.c_uint64), ("read_only", C.c_int),
                ("io_backend", C.c_int), ("errbuf", C.c_char_p),
                ("errbuf_bytes", C.c_size_t), ("manual_compaction", C.c_int),
                ("log_backlog_max_bytes", C.c_uint64), ("stats_interval_ms", C.c_uint32),
                ("on_event", C.c_void_p), ("event_arg", C.c_void_p),
                ("memory_delay_us", C.c_uint32)]


lib.sluice_version.restype = C.c_char_p
lib.sluice_strerror.restype = C.c_char_p
o = Options()
lib.sluice_options_init_size(C.byref(o), C.c_size_t(C.sizeof(o)))
assert o.size == C.sizeof(o), o.size
o.ring_bytes = 1 << 20
o.segment_bytes = 1 << 20
err = C.create_string_buffer(256)
o.errbuf = C.cast(err, C.c_char_p)
o.errbuf_bytes = 256
db = C.c_void_p()
r = lib.sluice_open(sys.argv[2].encode(), C.byref(o), C.byref(db))
assert r == 0, (lib.sluice_strerror(r), err.value)
ACK_DURABLE = 2
r = lib.sluice_put(db, b"key", C.c_size_t(3), C.c_uint64(7), b"caf\xc3\xa9", C.c_size_t(5),
                   ACK_DURABLE, None)
assert r == 0, lib.sluice_strerror(r)
buf = C.create_string_buffer(16)
vlen = C.c_size_t()
r = lib.sluice_get(db, b"key", C.c_size_t(3), C.c_uint64(7), buf, C.c_size_t(16), C.byref(vlen))
assert r == 0 and buf.raw[:vlen.value] == b"caf\xc3\xa9", (r, buf.raw)


class SeriesInfo(C.Structure):
    _fields_ = [("key", C.c_void_p), ("klen", C.c_size_t), ("records", C.c_uint64),
                ("first_ts", C.c_uint64), ("last_ts", C.c_uint64), ("latest_ts", C.c_uint64),
                ("latest_lsn", C.c_uint64), ("latest_val", C.c_void_p),
                ("latest_vlen", C.c_size_t)]


# the catalogue with each key's newest value, as a dashboard binding would read it
SERIES_STATS, SERIES_LATEST = 1, 2
r = lib.sluice_put(db, b"key", C.c_size_t(3), C.c_uint64(9), b"newer", C.c_size_t(5), 0, None)
assert r == 0, lib.sluice_strerror(r)
ser = C.c_void_p()
r = lib.sluice_series_open(db, b"k", C.c_size_t(1), SERIES_STATS | SERIES_LATEST, C.byref(ser))
assert r == 0, lib.sluice_strerror(r)
info = SeriesInfo()
got = []
while lib.sluice_series_next(ser, C.byref(info)) == 0:
    got.append((C.string_at(info.key, info.klen), info.records, info.first_ts, info.last_ts,
                info.latest_ts, C.string_at(info.latest_val, info.latest_vlen)))
lib.sluice_series_close(ser)
assert got == [(b"key", 2, 7, 9, 9, b"newer")], got
assert lib.sluice_close(db) == 0


class LiveStats(C.Structure):
    _fields_ = [("json", C.c_void_p), ("prometheus", C.c_void_p), ("time_ns", C.c_uint64),
                ("seq", C.c_uint64), ("pid", C.c_uint32), ("interval_ms", C.c_uint32)]


import json
import os
live = LiveStats()
r = lib.sluice_stats_read_live(sys.argv[2].encode(), C.byref(live))
assert r == 0, lib.sluice_strerror(r)
stats = json.loads(C.string_at(live.json).decode())
assert stats["records_total"] == 2 and live.pid == os.getpid(), (stats, live.pid)
assert b"sluice_records_total 2" in C.string_at(live.prometheus)
lib.sluice_live_stats_free(C.byref(live))
assert live.json is None
# a bad option is named in errbuf
o.ring_bytes = 100000
r = lib.sluice_open(sys.argv[2].encode(), C.byref(o), C.byref(db))
assert r != 0 and b"ring_bytes" in err.value, err.value
print("ok", lib.sluice_version(None, None, None).decode())
