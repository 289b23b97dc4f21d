"""The unit suite runs without a network: the domain needs none (style habit 9)."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketBlockedError

# pytest-socket warns as it blocks; here the block is the expected outcome.
pytestmark = pytest.mark.filterwarnings("ignore:A test tried to use socket:UserWarning")


def test_given_a_unit_test_when_it_opens_an_internet_socket_then_it_is_blocked():
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_given_a_unit_test_when_it_resolves_a_host_name_then_it_is_blocked():
    with pytest.raises(SocketBlockedError):
        socket.getaddrinfo("example.com", 443)


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets on this platform")
def test_given_a_unit_test_when_it_opens_a_unix_socket_then_it_is_allowed():
    # pytest-xdist workers may rely on them.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM):
        pass
