"""Keys and nonces come from the operating system's generator, read in blocks: each byte is
handed out once, and a forked process never repeats its parent's."""

from __future__ import annotations

import os

from order_service.personal.cipher import KEY_BYTES, NONCE_BYTES, RANDOM_READ_BYTES, new_key
from order_service.personal.cipher import random_bytes as take


def test_keys_and_nonces_never_repeat_across_several_blocks() -> None:
    count = 3 * RANDOM_READ_BYTES // NONCE_BYTES
    nonces = [take(NONCE_BYTES) for _ in range(count)]
    keys = [new_key() for _ in range(count)]

    assert {len(nonce) for nonce in nonces} == {NONCE_BYTES}
    assert {len(key) for key in keys} == {KEY_BYTES}
    assert len(set(nonces)) == count
    assert len(set(keys)) == count


def test_a_request_larger_than_a_block_is_served_whole() -> None:
    assert len(take(RANDOM_READ_BYTES + 1)) == RANDOM_READ_BYTES + 1


def test_a_forked_child_does_not_hand_out_its_parents_bytes() -> None:
    take(NONCE_BYTES)  # the parent holds a block with bytes still to hand out
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report its next bytes, then leave at once
        os.write(write, take(KEY_BYTES))
        os._exit(0)
    os.close(write)
    from_child = os.read(read, KEY_BYTES)
    os.close(read)
    os.waitpid(child, 0)

    assert len(from_child) == KEY_BYTES
    assert from_child != take(KEY_BYTES)
