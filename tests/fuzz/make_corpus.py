#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into tests/fuzz/corpus/.

Valid files of each format (as tapegrad and as other writers make them) and
slightly broken ones (truncated, a wrong field, a bad number), plus a few
random op graphs. The corpus is committed; run this again only to change it.
Needs nothing beyond the Python standard library."""
import gzip
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- safetensors ------------------------------------------------------------
# The fuzz target's registry: 0.weight F32 [2,3], 0.bias F32 [3],
# bn.running_mean F64 [2], scale F64 [], empty F32 [0,4].
REGISTRY = [("0.weight", "F32", [2, 3]), ("0.bias", "F32", [3]),
            ("bn.running_mean", "F64", [2]), ("scale", "F64", []),
            ("empty", "F32", [0, 4])]


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def tensor_bytes(dtype, shape, start=1.0):
    n = numel(shape)
    fmt = "<%d%s" % (n, "f" if dtype == "F32" else "d")
    return struct.pack(fmt, *[start + 0.5 * i for i in range(n)])


def safetensors(entries, metadata=None, pad=True, order=None, raw_header=None,
                tail=b""):
    """entries: (name, dtype, shape); data laid out in `order` (default: as
    given). Returns the file's bytes."""
    order = order or [e[0] for e in entries]
    by_name = {e[0]: e for e in entries}
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name in order:
        _, dtype, shape = by_name[name]
        blob = tensor_bytes(dtype, shape)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = raw_header if raw_header is not None else json.dumps(
        header, separators=(",", ":"))
    h = text.encode("utf-8")
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data + tail


def make_safetensors():
    t = "fuzz_safetensors"
    # As tapegrad writes it: f64 entries first, padded header.
    f64_first = [e[0] for e in REGISTRY if e[1] == "F64"] + \
        [e[0] for e in REGISTRY if e[1] == "F32"]
    put(t, "valid_tapegrad", safetensors(REGISTRY, order=f64_first))
    # As PyTorch writes it: metadata, registry order, no padding.
    put(t, "valid_metadata", safetensors(REGISTRY, {"format": "pt"},
                                         pad=False))
    # A name spelled with escapes and the entries' keys in another order.
    d = tensor_bytes("F32", [2, 3]) + tensor_bytes("F32", [3]) + \
        tensor_bytes("F64", [2]) + tensor_bytes("F64", [])
    hdr = ('{"0.w\\u0065ight":{"shape":[2,3],"data_offsets":[0,24],'
           '"dtype":"F32"},"0.bias":{"dtype":"F32","shape":[3],'
           '"data_offsets":[24,36]},"bn.running_mean":{"dtype":"F64",'
           '"shape":[2],"data_offsets":[36,52]},"scale":{"dtype":"F64",'
           '"shape":[],"data_offsets":[52,60]},"empty":{"dtype":"F32",'
           '"shape":[0,4],"data_offsets":[60,60]},'
           '"__metadata__":{"k\\n":"v\\u00e9\\ud83d\\ude00"}}')
    put(t, "valid_escapes", safetensors([], raw_header=hdr, tail=d))
    # Files for the empty registry.
    put(t, "valid_no_tensors", safetensors([], pad=False))
    put(t, "valid_only_metadata", safetensors([], {"a": "b", "c": ""}))
    # Broken ones.
    good = safetensors(REGISTRY)
    put(t, "bad_truncated", good[:-5])
    put(t, "bad_trailing_byte", good + b"\0")
    put(t, "bad_header_size", b"\xff" * 8 + good[8:])
    put(t, "bad_dtype", safetensors(
        [("0.weight", "F16", [2, 3])] + REGISTRY[1:]))
    put(t, "bad_shape", safetensors(
        [("0.weight", "F32", [3, 2])] + REGISTRY[1:]))
    put(t, "bad_missing_tensor", safetensors(REGISTRY[:-1]))
    put(t, "bad_extra_tensor", safetensors(
        REGISTRY + [("extra", "F32", [1])]))
    hdr_overlap = ('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                   '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}')
    put(t, "bad_overlap", safetensors([], raw_header=hdr_overlap,
                                      tail=b"\0" * 12))
    put(t, "bad_json_trailing_comma",
        safetensors([], raw_header='{"__metadata__":{"a":"b"},}'))
    put(t, "bad_json_surrogate",
        safetensors([], raw_header='{"__metadata__":{"\\ud800":"x"}}'))
    put(t, "bad_json_number",
        safetensors([], raw_header='{"a":{"dtype":"F32","shape":[01],'
                                   '"data_offsets":[0,4]}}',
                    tail=b"\0" * 4))
    put(t, "bad_duplicate", safetensors([], raw_header=(
        '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
        '"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'),
        tail=b"\0" * 8))
    put(t, "bad_empty_file", b"")


# --- npy ----------------------------------------------------------------------

def npy(descr, shape, data, version=(1, 0), fortran=False, extra="",
        align=64, shape_text=None):
    sh = shape_text or "(" + ", ".join(str(s) for s in shape) + \
        ("," if len(shape) == 1 else "") + ")"
    text = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, %s}" % (
        descr, "True" if fortran else "False", sh, extra)
    lenbytes = 2 if version[0] == 1 else 4
    pre = 8 + lenbytes
    text += " " * (-(pre + len(text) + 1) % align) + "\n"
    h = text.encode("latin-1")
    head = b"\x93NUMPY" + bytes(version) + \
        struct.pack("<H" if lenbytes == 2 else "<I", len(h))
    return head + h + data


def make_npy():
    t = "fuzz_npy"
    f4 = struct.pack("<6f", *[0.5 * i for i in range(6)])
    f8 = struct.pack("<3d", 1.0, -2.0, 3.5)
    put(t, "valid_f4_2x3", npy("<f4", [2, 3], f4))
    put(t, "valid_f8_v2", npy("<f8", [3], f8, version=(2, 0)))
    put(t, "valid_f8_0d_v3", npy("<f8", [], struct.pack("<d", 7.0),
                                 version=(3, 0)))
    put(t, "valid_empty", npy("<f4", [0, 4], b""))
    put(t, "valid_align16", npy("<f4", [6], f4, align=16))
    put(t, "valid_py2_long", npy("<f4", [2, 3], f4, shape_text="(2L, 3L)"))
    put(t, "bad_fortran", npy("<f4", [2, 3], f4, fortran=True))
    put(t, "bad_dtype_i4", npy("<i4", [6], f4))
    put(t, "bad_big_endian", npy(">f4", [6], f4))
    put(t, "bad_truncated", npy("<f4", [2, 3], f4)[:-3])
    put(t, "bad_extra_key", npy("<f4", [6], f4, extra="'x': 1, "))
    put(t, "bad_magic", b"\x93NUMPZ" + npy("<f4", [6], f4)[6:])
    put(t, "bad_version", npy("<f4", [6], f4, version=(4, 0)))
    put(t, "bad_one_tuple", npy("<f4", [6], f4).replace(b"(6,)", b"(6) "))


# --- idx ----------------------------------------------------------------------

def idx(code, shape, payload):
    return bytes([0, 0, code, len(shape)]) + \
        b"".join(struct.pack(">I", s) for s in shape) + payload


def make_idx():
    t = "fuzz_idx"
    pixels = bytes(range(0, 240, 10))  # 24 bytes: 2 images of 3x4
    put(t, "valid_ubyte_images", idx(0x08, [2, 3, 4], pixels))
    put(t, "valid_ubyte_labels", idx(0x08, [5], bytes([7, 2, 1, 0, 4])))
    put(t, "valid_sbyte", idx(0x09, [4], bytes([0, 127, 128, 255])))
    put(t, "valid_short", idx(0x0B, [3], struct.pack(">3h", -2, 0, 300)))
    put(t, "valid_int", idx(0x0C, [2, 2], struct.pack(">4i", 1, -1, 2**31 - 1,
                                                       -2**31)))
    put(t, "valid_float", idx(0x0D, [3], struct.pack(">3f", 1.5, -0.25,
                                                     float("inf"))))
    put(t, "valid_double", idx(0x0E, [2], struct.pack(">2d", 3.25,
                                                      float("nan"))))
    put(t, "valid_empty", idx(0x08, [0, 28, 28], b""))
    put(t, "valid_gzip", gzip.compress(idx(0x08, [2, 3, 4], pixels), 9,
                                       mtime=0))
    put(t, "cut_gzip_trailer", gzip.compress(idx(0x08, [5], bytes(5)), 9,
                                         mtime=0)[:-6])
    put(t, "bad_truncated", idx(0x08, [2, 3, 4], pixels[:-1]))
    put(t, "bad_trailing", idx(0x08, [5], bytes(6)))
    put(t, "bad_magic", b"\x01" + idx(0x08, [5], bytes(5))[1:])
    put(t, "bad_type", idx(0x0A, [5], bytes(5)))
    put(t, "bad_ndim0", bytes([0, 0, 8, 0]))
    put(t, "bad_header_cut", idx(0x08, [5, 5], b"")[:9])


# --- csv ----------------------------------------------------------------------

def make_csv():
    t = "fuzz_csv"
    put(t, "valid_simple", "1,2,3\n4,5,6\n")
    put(t, "valid_header", "a,b\n1.5,-2e3\n0,7\n")
    put(t, "valid_crlf_bom", "\ufeff1, 2\r\n3 ,\t4\r\n")
    put(t, "valid_blank_lines", "\n1\n  \n2\n\n")
    put(t, "valid_special", "inf,-inf,nan\n0x1p-3,1e308,-0\n")
    put(t, "valid_no_newline", "1,2\n3,4")
    put(t, "valid_empty", "")
    put(t, "bad_ragged", "1,2,3\n4,5\n")
    put(t, "bad_empty_field", "1,,3\n")
    put(t, "bad_text", "1,x,3\n")
    put(t, "bad_trailing_comma", "1,2,\n")
    put(t, "bad_nul", b"1,2\x003\n")


# --- graph --------------------------------------------------------------------

def make_graph():
    rng = random.Random(20240601)
    for i in range(12):
        n = rng.choice([48, 96, 160, 256, 384])
        put("fuzz_graph", "random_%02d" % i,
            bytes(rng.randrange(256) for _ in range(n)))


def clear_generated():
    """Removes what this script wrote before, keeping the regress_* inputs:
    inputs that once made a target fail, committed by hand so that every
    fuzz run replays them first."""
    for target in os.listdir(ROOT) if os.path.isdir(ROOT) else []:
        folder = os.path.join(ROOT, target)
        for name in os.listdir(folder):
            if not name.startswith("regress_"):
                os.remove(os.path.join(folder, name))


if __name__ == "__main__":
    clear_generated()
    make_safetensors()
    make_npy()
    make_idx()
    make_csv()
    make_graph()
