"""Free ports for servers that start later: the OS hands a port out again as soon as the socket that
asked for it is closed, so two servers of one stack could be given one port (it happened: a bench
run's NATS and stand-in)."""

from deploy.local.processes import free_port, port_is_free


def test_ports_handed_out_before_anything_listens_are_all_different():
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)


def test_a_preferred_port_that_is_free_is_given_each_time_it_is_asked_for():
    port = free_port()
    assert port_is_free(port)
    assert free_port(port) == free_port(port) == port
