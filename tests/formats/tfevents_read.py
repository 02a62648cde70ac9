#!/usr/bin/python3
"""An independent TensorBoard event file reader for the format tests.

TFRecord framing is checked with crcmod's CRC-32C (Debian python3-crcmod) and each record is
parsed by python3-protobuf against descriptors of tensorflow/core/util/event.proto and
tensorflow/core/framework/summary.proto (the fields TensorBoard reads for scalars), built here.

  tfevents_read.py FILE   prints [{"wall_time", "step", "file_version", "scalars": {tag: v}}]
"""
import json
import struct
import sys

import crcmod.predefined
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

crc32c = crcmod.predefined.mkCrcFun("crc-32c")


def masked(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def event_class():
    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="event.proto", package="tensorflow")

    def message(name, fields):
        m = proto.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            f = m.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                f.type_name = type_name

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    message("SummaryValue", [("tag", 1, F.TYPE_STRING, opt, None),
                             ("simple_value", 2, F.TYPE_FLOAT, opt, None)])
    message("Summary", [("value", 1, F.TYPE_MESSAGE, rep, ".tensorflow.SummaryValue")])
    message("Event", [("wall_time", 1, F.TYPE_DOUBLE, opt, None),
                      ("step", 2, F.TYPE_INT64, opt, None),
                      ("file_version", 3, F.TYPE_STRING, opt, None),
                      ("summary", 5, F.TYPE_MESSAGE, opt, ".tensorflow.Summary")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("tensorflow.Event"))


def main(path):
    Event = event_class()
    raw = open(path, "rb").read()
    pos, out = 0, []
    while pos < len(raw):
        header = raw[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", raw[pos + 8:pos + 12])
        assert length_crc == masked(header), f"length CRC at {pos}"
        data = raw[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack("<I", raw[pos + 12 + length:pos + 16 + length])
        assert data_crc == masked(data), f"data CRC at {pos}"
        e = Event()
        e.ParseFromString(data)
        out.append({"wall_time": e.wall_time, "step": e.step, "file_version": e.file_version,
                    "scalars": {v.tag: v.simple_value for v in e.summary.value}})
        pos += 16 + length
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
