"""Run records are written whole or not at all, and a full disk says so."""
import errno
import shutil
from collections import namedtuple

import pytest
import torch

from supernet.files import RecordWriteError, write_atomic, write_text_atomic
from supernet.run.checkpoint import load_checkpoint, save_checkpoint


def test_a_failed_write_names_the_file_and_keeps_the_previous_version(tmp_path):
    path = write_text_atomic(tmp_path / "status.json", '{"status": "completed"}\n')

    def full_disk(tmp):
        tmp.write_text('{"sta')                       # half written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(RecordWriteError, match=r"could not write .*status.json: the disk is full.*kept"):
        write_atomic(path, full_disk)
    assert path.read_text() == '{"status": "completed"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]       # no temporary left behind


def test_a_checkpoint_on_a_full_disk_is_a_clear_error_not_a_stream_error(tmp_path, monkeypatch):
    save_checkpoint({"epoch": 1}, tmp_path / "checkpoint.pt")

    def torch_save(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")
    monkeypatch.setattr(torch, "save", torch_save)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(100, 100, 0))
    with pytest.raises(RecordWriteError, match=r"checkpoint.pt: the disk is full"):
        save_checkpoint({"epoch": 2}, tmp_path / "checkpoint.pt")
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1


def test_a_read_only_folder_reports_the_write_that_failed_not_the_cleanup(tmp_path, monkeypatch):
    """On a read-only file system removing the temporary fails too; the error is the write's."""
    def read_only(tmp):
        raise OSError(errno.EROFS, "Read-only file system")

    def unlink(self, missing_ok=False):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(type(tmp_path), "unlink", unlink)
    with pytest.raises(RecordWriteError, match=r"could not write .*genotype.json: .*Read-only file system"):
        write_atomic(tmp_path / "genotype.json", read_only)
