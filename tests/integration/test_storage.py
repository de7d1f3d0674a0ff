"""Files kept in PostgreSQL (records/storage.py): written compressed, read back exactly,
and files stored before compression still read."""

from __future__ import annotations

import random

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

from records.models import StoredFile, StoredFileChunk
from records.storage import CHUNK_SIZE, COMPRESS_AHEAD


def _stored_bytes(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(octet_length(c.data)), 0) FROM records_storedfilechunk c "
            "JOIN records_storedfile f ON f.id = c.file_id WHERE f.name = %s",
            [name],
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_file_of_several_chunks_reads_back_exactly_and_is_stored_compressed():
    text = "".join(f"GB-CHC-{i},Charity number {i},registered,London\r\n" for i in range(80_000))
    content = text.encode()
    assert len(content) > 2 * CHUNK_SIZE
    name = default_storage.save("uploads/register.csv", ContentFile(content))
    assert default_storage.size(name) == len(content)
    with default_storage.open(name) as stored:
        assert stored.read() == content
        stored.seek(CHUNK_SIZE - 5)  # across a chunk boundary
        assert stored.read(10) == content[CHUNK_SIZE - 5 : CHUNK_SIZE + 5]
    assert StoredFile.objects.get(name=name).compression == "zlib"
    assert _stored_bytes(name) < len(content) / 3


@pytest.mark.django_db
def test_chunks_compressed_ahead_are_stored_in_their_order():
    # More chunks than are compressed ahead at once, each unlike the others.
    count = COMPRESS_AHEAD + 3
    content = b"".join(bytes([65 + i]) * CHUNK_SIZE for i in range(count)) + b"tail"
    name = default_storage.save("uploads/letters.csv", ContentFile(content))
    assert StoredFileChunk.objects.filter(file__name=name).count() == count + 1
    with default_storage.open(name) as stored:
        assert stored.read() == content


@pytest.mark.django_db
def test_a_file_that_does_not_compress_reads_back_exactly():
    content = random.Random(1).randbytes(CHUNK_SIZE + 123)
    name = default_storage.save("uploads/noise.bin", ContentFile(content))
    with default_storage.open(name) as stored:
        assert stored.read() == content


@pytest.mark.django_db
def test_a_file_stored_before_compression_still_reads():
    content = b"reference,name\r\nR1,Old upload\r\n" * 50_000
    stored = StoredFile.objects.create(name="uploads/old.csv", size=len(content))
    assert stored.compression == ""
    StoredFileChunk.objects.bulk_create(
        StoredFileChunk(file=stored, index=i, data=content[start : start + CHUNK_SIZE])
        for i, start in enumerate(range(0, len(content), CHUNK_SIZE))
    )
    with default_storage.open("uploads/old.csv") as old:
        assert old.read() == content
