"""An echo client as a Python component (componentize-py) over the raw wasi:sockets
bindings, for the guest benchmark: `echo_client IP:PORT COUNT SIZE` makes COUNT
round trips of SIZE bytes to an echo server and checks each answer."""

import sys

from wit_world import exports
from wit_world.imports import environment, instance_network, tcp_create_socket
from wit_world.imports.network import IpAddressFamily, IpSocketAddress_Ipv4, Ipv4SocketAddress


def wait(handle):
    p = handle.subscribe()
    p.block()
    p.__exit__(None, None, None)


def parse_address(text):
    host, port = text.rsplit(":", 1)
    octets = tuple(int(x) for x in host.split("."))
    return IpSocketAddress_Ipv4(Ipv4SocketAddress(port=int(port), address=octets))


class Run(exports.Run):
    def run(self) -> None:
        args = environment.get_arguments()
        if len(args) != 4:
            print("usage: echo_client IP:PORT COUNT SIZE", file=sys.stderr)
            sys.exit(2)
        address, count, size = parse_address(args[1]), int(args[2]), int(args[3])
        net = instance_network.instance_network()
        sock = tcp_create_socket.create_tcp_socket(IpAddressFamily.IPV4)
        sock.start_connect(net, address)
        wait(sock)
        reader, writer = sock.finish_connect()
        message = bytes(i % 251 for i in range(size))
        for _ in range(count):
            writer.blocking_write_and_flush(message)
            got = b""
            while len(got) < size:
                got += reader.blocking_read(size - len(got))
            if got != message:
                print("the echo differs", file=sys.stderr)
                sys.exit(1)
        print(f"{count} round trips of {size} bytes")
        for h in (reader, writer, sock):
            h.__exit__(None, None, None)
