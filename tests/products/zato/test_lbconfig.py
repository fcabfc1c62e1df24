"""What a load balancer's HAProxy config does when a server stops (:mod:`harness.products.zato.lbconfig`), on
Zato 3.2's own config and on the stand-in's."""

from __future__ import annotations

import pytest

from harness.products.zato.lbconfig import Failover, failover
from tests.products.zato import standin_module

# The sections `zato create load-balancer` writes (zatosource/zato support/3.2, zato-cli create_lb.py,
# `zato_config_template`), with a server line as the agent adds one (`_lb_agent_add_remove_server`)
ZATO_32 = """
global
    log 127.0.0.1:514 local0 debug # ZATO global:log
    stats socket /opt/zato/env/lb/haproxy-stat.sock # ZATO global:stats_socket

defaults
    log global
    option httpclose
    stats uri /zato-lb-stats # ZATO defaults:stats uri
    timeout connect 15000 # ZATO defaults:timeout connect
    timeout client 15000 # ZATO defaults:timeout client
    timeout server 15000 # ZATO defaults:timeout server
    stats enable

backend bck_http_plain
    mode http
    balance roundrobin

# ZATO begin backend bck_http_plain

    server http_plain--server1 127.0.0.1:17010 check inter 2s rise 2 fall 2
    server http_plain--server2 127.0.0.1:17011 check inter 2s rise 2 fall 2

# ZATO end backend bck_http_plain

frontend front_http_plain
    mode http
    default_backend bck_http_plain
    option httplog # ZATO frontend front_http_plain:option log-http-requests
    bind 0.0.0.0:11223 # ZATO frontend front_http_plain:bind
"""

REDISPATCH = "defaults\n    retries 3\n    option redispatch\n"


def test_zatos_own_template_has_no_redispatch_and_keeps_a_stopped_server_for_fall_times_inter() -> None:
    assert failover(ZATO_32) == Failover(redispatch=False, retries=3, down_after_s=4.0)
    assert not failover(ZATO_32).keeps_requests


def test_redispatch_in_defaults_keeps_requests() -> None:
    f = failover(ZATO_32.replace("defaults\n", REDISPATCH, 1))
    assert f.redispatch and f.retries == 3 and f.keeps_requests


WITH_REDISPATCH = ZATO_32.replace("defaults\n", REDISPATCH, 1)
BALANCE = "    balance roundrobin\n"


@pytest.mark.parametrize(("config", "keeps"), [
    # the backend's own `no option redispatch` wins over defaults
    (WITH_REDISPATCH.replace(BALANCE, BALANCE + "    no option redispatch\n"), False),
    # redispatch with no retry left to redispatch
    (ZATO_32.replace("defaults\n", "defaults\n    option redispatch\n    retries 0\n", 1), False),
    # in the backend only
    (ZATO_32.replace(BALANCE, BALANCE + "    option redispatch 1\n"), True),
    # a commented-out line is no setting
    (ZATO_32.replace("defaults\n", "defaults\n    # option redispatch\n", 1), False),
    # a later defaults section replaces the earlier one
    (WITH_REDISPATCH.replace("backend bck_http_plain\n", "defaults\n    mode http\n\nbackend bck_http_plain\n"), False),
    # redispatch in another backend is not Zato's
    (ZATO_32 + "\nbackend other\n    option redispatch\n", False),
], ids=["backend-no-option", "retries-0", "backend-only", "commented-out", "later-defaults", "other-backend"])
def test_where_redispatch_is_set_decides(config: str, keeps: bool) -> None:
    assert failover(config).keeps_requests is keeps


def test_the_window_comes_from_each_servers_check_timing_with_haproxys_defaults() -> None:
    no_params = ZATO_32.replace(" check inter 2s rise 2 fall 2", " check")
    assert failover(no_params).down_after_s == 6.0  # HAProxy's defaults: inter 2000 ms, fall 3
    default_server = no_params.replace("    balance roundrobin\n",
                                       "    balance roundrobin\n    default-server inter 500ms fall 4\n")
    assert failover(default_server).down_after_s == 2.0
    one_slow = ZATO_32.replace("127.0.0.1:17011 check inter 2s", "127.0.0.1:17011 check inter 1m")
    assert failover(one_slow).down_after_s == 120.0  # the longest server
    with pytest.raises(ValueError, match="not an HAProxy time"):
        failover(ZATO_32.replace("inter 2s", "inter 2sec"))


@pytest.mark.parametrize("redispatch", [True, False])
def test_the_stand_ins_config_is_read_as_it_is_written(redispatch: bool) -> None:
    lb = standin_module("lb")
    config = lb.haproxy_config("127.0.0.1", 11223, [("server1", "127.0.0.1", 17010)], 20151, inter_ms=200,
                               redispatch=redispatch)
    f = failover(config)
    assert f.keeps_requests is redispatch
    assert f.down_after_s == (0.2 if redispatch else 0.4)  # fall 1 with the retries; Zato's fall 2 without
