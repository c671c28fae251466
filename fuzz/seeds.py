#!/usr/bin/env python3
"""Write small hand-made seed inputs for the fuzz targets into fuzz/seeds/TARGET/.

The seeds are synthetic: they follow the formats of the dataset loaders and model encodings
but contain no data from any real dataset. Run from anywhere; the output goes next to this file.
"""

import gzip
import hashlib
import io
import os
import struct
import zipfile
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def write(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def varint(n):
    """postcard's unsigned LEB128 varint."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def f64(x):
    return struct.pack("<d", x)


def f64_vec(values):
    return varint(len(values)) + b"".join(f64(v) for v in values)


def dsl():
    header = "subject,sessionIndex,rep,H.a,DD.a.b,UD.a.b,H.b\r\n"
    rows = "".join(
        f"s002,{s},{r},0.{100 + r},0.25,0.1{r % 10},0.09\r\n" for s in (1, 2) for r in (1, 2, 3)
    )
    write("dsl_parse", "small.csv", header + rows)
    write("dsl_parse", "bad_number.csv", header + "s002,1,1,x,0.25,0.1,0.09\n")


def bksd_csv(keys, rows, user="S1e"):
    names = []
    for k in range(1, keys + 1):
        names.append(f"H.{k}")
        if k < keys:
            names += [f"DD.{k}_{k + 1}", f"UD.{k}_{k + 1}"]
    lines = [",".join(names + ["total", "user"])]
    for r in range(rows):
        values = [str(90 + r + i) for i in range(len(names))]
        lines.append(",".join(values + ["1000", user]))
    return "\n".join(lines) + "\n"


def bksd():
    # The subject target reads the key count from the first byte (modulo 20).
    write("bksd_subject", "keys8.csv", bytes([8]) + bksd_csv(8, 3).encode())
    write("bksd_subject", "keys2.csv", bytes([2]) + bksd_csv(2, 2, "s10a").encode())
    for count in (1, 3):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for s in range(1, count + 1):
                archive.writestr(f"S{s}e-ksd.csv", bksd_csv(8, 2, f"S{s}e"))
        write("bksd_zip", f"subjects{count}.zip", buffer.getvalue())


def aalto():
    header = (
        "PARTICIPANT_ID\tTEST_SECTION_ID\tSENTENCE\tUSER_INPUT\tKEYSTROKE_ID\t"
        "PRESS_TIME\tRELEASE_TIME\tLETTER\tKEYCODE\n"
    )
    rows = "".join(
        f"7\t{10 + i // 3}\tHi.\tHi\t{i}\t{1000 + 120 * i}\t{1080 + 120 * i}\t\t{72 + i}\n"
        for i in range(6)
    )
    text = (header + rows).encode()
    # First byte: even reads plain text, odd reads through the gzip decoder.
    write("aalto_parse", "plain.txt", b"\x00" + text)
    write("aalto_parse", "gzip.txt.gz", b"\x01" + gzip.compress(text))


def balabit():
    header = "record timestamp,client timestamp,button,state,x,y\n"
    rows = [
        "0.0,0.0,NoButton,Move,100,200",
        "0.1,0.016,NoButton,Move,110,205",
        "0.2,0.031,Left,Pressed,120,210",
        "0.3,0.047,NoButton,Drag,130,215",
        "0.4,0.062,Left,Released,140,220",
        "0.5,0.078,Scroll,Down,140,220",
    ]
    write("balabit_session", "session_1", header + "\n".join(rows) + "\n")
    labels = "filename,is_illegal\nsession_1,0\nsession_2,1\n"
    write("balabit_labels", "public_labels.csv", labels)


def forest():
    # RandomForest { n_features, trees: [Tree { nodes: [Node] }] }; Node is an enum:
    # 0 = Leaf(f64), 1 = Split { feature: u32, threshold: f64, left: u32, right: u32 }.
    leaf = lambda p: varint(0) + f64(p)
    split = lambda f, t, l, r: varint(1) + varint(f) + f64(t) + varint(l) + varint(r)
    tree = varint(3) + split(1, 0.5, 1, 2) + leaf(0.25) + leaf(1.0)
    write("forest_decode", "one_tree", varint(2) + varint(2) + tree + varint(1) + leaf(0.5))


def detector():
    # FittedDetector::MeanDistance (variant 0) { metric: Metric (2 = Manhattan), mean, weight,
    # mean_norm }.
    body = varint(2) + f64_vec([0.1, 0.2, 0.3]) + f64_vec([1.0, 1.0, 1.0]) + f64(0.37)
    write("detector_decode", "manhattan", varint(0) + body)


def envelope(kind, schema, payload):
    """A model file: magic, version 1, kind, schema hash, payload length, payload, CRC32."""
    body = (
        b"KTMODEL\0"
        + struct.pack("<H", 1)
        + bytes([len(kind)])
        + kind
        + hashlib.sha256(schema).digest()[:8]
        + struct.pack("<Q", len(payload))
        + payload
    )
    return body + struct.pack("<I", zlib.crc32(body))


def engine_model_file():
    # Mode byte first (see the target): 0 whole file, 1 payload in a valid envelope, 2 edits
    # (offset u16 big-endian, byte) of a real enrolled payload that the target builds itself.
    foreign = envelope(b"engine/keyboard+mouse", b"another schema", b"\x00" * 16)
    write("engine_model_file", "foreign_schema", b"\x00" + foreign)
    write("engine_model_file", "bad_magic", b"\x00" + b"KTMODEL\1" + foreign[8:])
    write("engine_model_file", "payload_zeros", b"\x01" + bytes(48))
    write("engine_model_file", "unchanged", b"\x02")
    edits = b"".join(struct.pack(">HB", offset, 0xFF) for offset in (0, 9, 40, 200, 1000))
    write("engine_model_file", "edits", b"\x02" + edits)


def arbitrary_inputs():
    # Targets that build events with `arbitrary` start from a few patterned byte strings.
    targets = (
        "freetext_stream",
        "mouse_segment",
        "fixed_timing",
        "freetext_decode",
        "engine_ingest",
        "ffi_batch",
    )
    for target in targets:
        write(target, "zeros", bytes(64))
        write(target, "ramp", bytes(range(256)))


def main():
    dsl()
    bksd()
    aalto()
    balabit()
    forest()
    detector()
    engine_model_file()
    arbitrary_inputs()


if __name__ == "__main__":
    main()
