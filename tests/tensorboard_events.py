"""Reading TensorBoard event files in tests, with tensorboardX's own protobufs."""
import struct
from pathlib import Path
from typing import Set

from tensorboardX.proto import event_pb2


def scalar_tags(folder: Path) -> Set[str]:
    """Every scalar tag written to the event files under ``folder``."""
    tags = set()
    for path in Path(folder).rglob("events.out.tfevents.*"):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            record = data[pos + 12:pos + 12 + length]
            pos += 12 + length + 4
            event = event_pb2.Event()
            event.ParseFromString(record)
            tags.update(v.tag for v in event.summary.value if v.HasField("simple_value"))
    return tags
