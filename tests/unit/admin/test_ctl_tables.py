"""``interlock ctl``'s output: maxctrl's box tables, key/value tables, TSV, and the field paths
that pick values out of JSON:API resources."""

from __future__ import annotations

from interlock.admin.ctl import fields
from interlock.admin.ctl.tables import Fields, Table, cell_text, render, render_tsv, width

SERVERS = Table(
    ("Server", "Address", "Port", "State"),
    (("server1", "127.0.0.1", 3306, "Master, Running"),
     ("server2", "127.0.0.1", 3307, "Slave, Running")),
)


def test_a_list_is_boxed_with_a_rule_after_every_row() -> None:
    assert render(SERVERS) == "\n".join([
        "┌─────────┬───────────┬──────┬─────────────────┐",
        "│ Server  │ Address   │ Port │ State           │",
        "├─────────┼───────────┼──────┼─────────────────┤",
        "│ server1 │ 127.0.0.1 │ 3306 │ Master, Running │",
        "├─────────┼───────────┼──────┼─────────────────┤",
        "│ server2 │ 127.0.0.1 │ 3307 │ Slave, Running  │",
        "└─────────┴───────────┴──────┴─────────────────┘",
    ])


def test_an_empty_list_still_shows_its_columns() -> None:
    assert render(Table(("Id", "User"), ())) == "\n".join([
        "┌────┬──────┐",
        "│ Id │ User │",
        "└────┴──────┘",
    ])


def test_show_is_a_table_without_header_and_nested_values_grow_the_row() -> None:
    view = Fields((("Server", "server1"), ("Parameters", {"port": 3306, "ssl": False})))
    lines = render(view).splitlines()
    assert lines[1] == "│ Server     │ server1          │"
    assert lines[3] == "│ Parameters │ ┌──────┬───────┐ │"
    assert lines[4] == "│            │ │ port │ 3306  │ │"
    assert lines[5] == "│            │ │ ssl  │ false │ │"  # nested: compact, no rule
    assert lines[6] == "│            │ └──────┴───────┘ │"
    assert lines[-1] == "└────────────┴──────────────────┘"
    assert len({width(line) for line in lines}) == 1  # every line as wide as the box


def test_values_become_text_like_maxctrl_prints_them() -> None:
    assert cell_text(None) == ""
    assert cell_text(True) == "true" and cell_text(False) == "false"
    assert cell_text(2.0) == "2" and cell_text(0.25) == "0.25"
    assert cell_text(["server1", "server2"]) == "server1, server2"
    assert cell_text([]) == ""
    assert cell_text({"log_throttling": [10, 1.0]}).splitlines()[1] == (
        "│ log_throttling │ 10, 1 │")
    deep = cell_text({"a": {"b": 1}})
    assert deep.splitlines() == ["{", '    "a": {', '        "b": 1', "    }", "}"]


def test_tsv_has_no_header_and_one_line_per_row() -> None:
    assert render(SERVERS, tsv=True) == (
        "server1\t127.0.0.1\t3306\tMaster, Running\n"
        "server2\t127.0.0.1\t3307\tSlave, Running")
    assert render(Fields((("Server", "s1"), ("Read Only", True))), tsv=True) == (
        "Server\ts1\nRead Only\ttrue")


def test_tsv_keeps_a_row_on_one_line_whatever_the_cell_holds() -> None:
    text = render_tsv([("a\tb", "line1\nline2", {"port": 1, "ssl": None}, [1, 2], None)])
    assert text == 'a b\tline1 line2\t{"port":1,"ssl":null}\t1, 2\t'
    assert text.count("\t") == 4 and "\n" not in text


def test_wide_characters_keep_the_columns_aligned() -> None:
    lines = render(Table(("Name", "X"), (("日本", "1"), ("ab", "2")))).splitlines()
    assert lines[3] == "│ 日本 │ 1 │"
    assert lines[5] == "│ ab   │ 2 │"
    assert len({width(line) for line in lines}) == 1


SERVER = {
    "id": "server2",
    "type": "servers",
    "attributes": {
        "state": "Slave, Running",
        "gtid_current_pos": "0-1-28",
        "parameters": {"address": "127.0.0.1", "port": 3307},
        "statistics": {"connections": 4},
        "slave_connections": [{"master_server_id": 1}, {"master_server_id": 7}],
    },
    "relationships": {"monitors": {"data": [{"id": "Replication-Monitor",
                                             "type": "monitors"}]},
                      "services": {"data": []}},
}


def test_paths_reach_attributes_lists_and_alternatives() -> None:
    assert fields.pluck(SERVER, "attributes.parameters.port") == 3307
    assert fields.pluck(SERVER, "relationships.monitors.data[].id") == ["Replication-Monitor"]
    assert fields.pluck(SERVER, "attributes.slave_connections[].master_server_id") == [1, 7]
    assert fields.pluck(SERVER, "attributes.missing.deeper") is None
    assert fields.pluck(SERVER, "relationships.services.data[].id") is None  # empty: absent
    assert fields.pluck(SERVER, "attributes.master_id|attributes.state") == "Slave, Running"
    assert fields.pluck(SERVER, "attributes.parameters.port.nope") is None


def test_list_servers_has_maxctrls_columns() -> None:
    view = fields.table(fields.LIST_SERVERS, [SERVER])
    assert view.headers == ("Server", "Address", "Port", "Connections", "State", "GTID",
                            "Monitor")
    assert render(view, tsv=True) == (
        "server2\t127.0.0.1\t3307\t4\tSlave, Running\t0-1-28\tReplication-Monitor")


def test_show_server_names_the_fields_and_leaves_unknown_ones_empty() -> None:
    view = fields.fields(fields.SHOW_SERVER, SERVER)
    found = dict(view.rows)
    assert found["Server"] == "server2"
    assert found["Master ID"] == [1, 7]
    assert found["Version"] is None  # the resource has no version_string
    assert [title for title, _ in view.rows][:4] == ["Server", "Address", "Port", "State"]
