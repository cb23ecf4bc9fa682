"""``[maxscale]`` parameters of monitor leadership through etcd (issue 9) and the settings
:mod:`interlock.cluster.leadership` derives from them (no etcd needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.cluster.leadership import admin_url_of, instance_name_of, settings_of
from interlock.config.loader import parse_text
from interlock.config.model import GlobalConfig
from interlock.errors import ClusterError

REST = """
[s1]
type=server
address=127.0.0.1
[svc]
type=service
router=readwritesplit
servers=s1
user=u
password=p
[l]
type=listener
service=svc
port=4006
"""


def global_section(text: str, tmp_path: Path) -> GlobalConfig:
    return parse_text(f"[maxscale]\n{text}\n{REST}", str(tmp_path / "x.cnf")).global_


def test_defaults_change_nothing(tmp_path: Path) -> None:
    g = global_section("threads=auto", tmp_path)
    assert g.cluster == "none"
    assert g.etcd_endpoints is None and g.etcd_prefix == "/interlock/"
    assert g.etcd_lease_ttl == 5.0 and g.instance_name is None


def test_etcd_parameters_parse(tmp_path: Path) -> None:
    g = global_section("cluster=ETCD\netcd_endpoints=https://a:2379, https://b:2379\n"
                       "etcd_prefix=/x/\netcd_user=il\netcd_password=pw\netcd_lease_ttl=3s\n"
                       "instance_name=proxy-1\nadmin_port=9000\nadmin_host=10.0.0.1", tmp_path)
    assert g.cluster == "etcd"
    settings = settings_of(g)
    assert settings.endpoints == ("https://a:2379", "https://b:2379")
    assert (settings.user, settings.password) == ("il", "pw")
    assert g.etcd_lease_ttl == 3.0
    assert instance_name_of(g) == "proxy-1"
    assert admin_url_of(g) == "http://10.0.0.1:9000"


def test_bad_values_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="cluster"):
        global_section("cluster=zookeeper", tmp_path)
    with pytest.raises(Exception, match="etcd_lease_ttl"):
        global_section("etcd_lease_ttl=5", tmp_path)  # a duration needs its unit


def test_etcd_needs_endpoints_and_paired_credentials() -> None:
    with pytest.raises(ClusterError, match="etcd_endpoints"):
        settings_of(GlobalConfig(cluster="etcd"))
    with pytest.raises(ClusterError, match="etcd_user and etcd_password"):
        settings_of(GlobalConfig(cluster="etcd", etcd_endpoints="a:1", etcd_user="u"))


def test_default_instance_name_is_host_and_admin_port() -> None:
    name = instance_name_of(GlobalConfig(admin_port=8999))
    assert name.endswith(":8999") and len(name) > len(":8999")
    assert admin_url_of(GlobalConfig(admin_host="::1", admin_port=1,
                                     admin_ssl_cert="c.pem")) == "https://[::1]:1"


def test_cluster_etcd_without_endpoints_is_a_config_error(tmp_path: Path) -> None:
    from interlock.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        global_section("cluster=etcd", tmp_path)
    assert "x.cnf:2: [maxscale] cluster=etcd needs etcd_endpoints" in str(caught.value)
