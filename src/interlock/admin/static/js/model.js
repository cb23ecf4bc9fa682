// From the API's JSON:API documents to what the page draws: servers with their role, state
// class, replication source and statistics; monitors' warnings; events; sessions.

const STATE_CLASSES = [
  // first match wins: the state a colour stands for
  ["Down", "down"],
  ["Auth Error", "down"],
  ["Maintenance", "maintenance"],
  ["Draining", "draining"],
  ["Master", "master"],
  ["Relay Master", "slave"],
  ["Slave", "slave"],
  ["Running", "running"],
];

export function stateWords(text) {
  return String(text || "").split(",").map((w) => w.trim()).filter(Boolean);
}

export function stateClass(text) {
  const words = stateWords(text);
  if (!words.length) return "down";
  for (const [word, cls] of STATE_CLASSES) if (words.includes(word)) return cls;
  return "other";
}

function sameHost(a, b) {
  const local = (h) => (h === "localhost" || h === "::1" ? "127.0.0.1" : h);
  return local(String(a || "")) === local(String(b || ""));
}

function relName(resource, kind) {
  const rel = resource.relationships && resource.relationships[kind];
  const data = rel && rel.data;
  if (Array.isArray(data)) return data.map((d) => d.id);
  return data ? [data.id] : [];
}

function monitorOf(name, resource, monitors) {
  const own = relName(resource, "monitors");
  if (own.length) return own[0];
  const m = monitors.find((mon) => relName(mon, "servers").includes(name));
  return m ? m.id : null;
}

/** A replication link's health: "ok" (IO and SQL running), "connecting", or "broken". */
function linkState(conn) {
  const io = String(conn.slave_io_running ?? "").toLowerCase();
  const sql = conn.slave_sql_running === true || String(conn.slave_sql_running).toLowerCase() === "yes";
  if (conn.last_io_error || conn.last_sql_error || !sql) return "broken";
  if (io === "yes" || io === "running" || io === "true") return "ok";
  if (io === "connecting") return "connecting";
  return "broken";
}

export function servers(serverDocs, monitorDocs) {
  const monitors = monitorDocs || [];
  const primaries = new Set(monitors.map((m) => m.attributes?.monitor_diagnostics?.primary).filter(Boolean));
  const list = (serverDocs || []).map((r) => {
    const a = r.attributes || {};
    const p = a.parameters || {};
    const st = a.statistics || {};
    const routed = st.routed_queries ?? (st.reads !== undefined && st.writes !== undefined ? st.reads + st.writes : null);
    return {
      name: r.id,
      address: p.address,
      port: p.port,
      state: a.state || "",
      cls: stateClass(a.state),
      words: stateWords(a.state),
      details: a.state_details || "",
      isPrimary: Boolean(a.is_primary),
      monitor: monitorOf(r.id, r, monitors),
      gtid: a.gtid_current_pos || "",
      binlog: a.gtid_binlog_pos || "",
      lag: a.replication_lag,
      readOnly: a.read_only,
      serverId: a.server_id,
      version: a.version_string || "",
      connections: st.connections ?? null,
      operations: st.active_operations ?? null,
      routed,
      slaves: (a.slave_connections || []).map((c) => ({ ...c, health: linkState(c) })),
      links: [], // filled below: [{from, conn}]
    };
  });
  for (const s of list) {
    s.monitorPrimary = primaries.has(s.name); // the monitor's primary, even when it is down
    if (!s.isPrimary && s.monitorPrimary && s.words.includes("Master")) s.isPrimary = true;
  }
  for (const s of list) {
    for (const conn of s.slaves) {
      const source = list.find((o) => o !== s && Number(o.port) === Number(conn.master_port) && sameHost(o.address, conn.master_host));
      s.links.push({ from: source ? source.name : null, conn });
    }
  }
  return list;
}

/** Is `s` replicating from somewhere (a link whose threads run)? */
export function replicating(s) {
  return s.links.some((l) => l.conn.health === "ok" || l.conn.health === "connecting");
}

/** The primary: the monitor's (also when it is down, so the graph keeps its shape), else a
 *  server in state Master. */
export function primaryOf(list) {
  return list.find((s) => s.isPrimary) || list.find((s) => s.monitorPrimary)
    || list.find((s) => s.words.includes("Master")) || null;
}

export function isDown(s) {
  return !s.words.length || s.words.includes("Down");
}

export function warnings(monitorDocs, list) {
  const found = [];
  for (const m of monitorDocs || []) {
    const diag = m.attributes?.monitor_diagnostics || {};
    for (const w of diag.warnings || []) found.push({ source: m.id, text: typeof w === "string" ? w : JSON.stringify(w) });
    for (const info of diag.server_info || []) {
      if (info.note) found.push({ source: `${m.id} / ${info.name}`, text: info.note });
    }
  }
  for (const s of list || []) {
    if (s.details) found.push({ source: s.name, text: s.details });
    for (const l of s.links) {
      const err = l.conn.last_io_error || l.conn.last_sql_error;
      if (err) found.push({ source: `${s.name} replication`, text: err });
      else if (l.conn.health === "broken") {
        const from = l.from || `${l.conn.master_host}:${l.conn.master_port}`;
        found.push({ source: `${s.name} replication`, text: `replication from ${from} is stopped (IO thread: ${l.conn.slave_io_running}, SQL thread: ${l.conn.slave_sql_running ? "running" : "stopped"})` });
      }
    }
  }
  const seen = new Set();
  return found.filter((w) => {
    const key = `${w.source}\u0000${w.text}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function events(docs, limit = 100) {
  return (docs || []).slice(-limit).reverse().map((e) => {
    const a = e.attributes || {};
    return {
      id: e.id,
      time: a.time,
      kind: a.kind || "state",
      server: a.server || "",
      monitor: a.monitor || "",
      oldState: a.old_state ?? "",
      newState: a.new_state ?? "",
      reason: a.reason || "",
    };
  });
}

export function sessions(docs) {
  return (docs || []).map((r) => {
    const a = r.attributes || {};
    const servers = Array.isArray(a.servers) ? a.servers.map((s) => (typeof s === "string" ? s : s.id || s.name)) : [];
    return {
      id: r.id,
      user: a.user ?? "",
      remote: a.remote ?? "",
      service: a.service ?? (relName(r, "services")[0] || ""),
      servers,
      connected: a.connected ?? "",
      idle: a.idle,
      state: a.state ?? "",
    };
  });
}

/** A monitor's cluster operation (`attributes.operation`, docs/cluster.md) in one line, or
 *  null when none stands; `manual`: a dead leader's operation is left for a person. */
export function operation(op) {
  if (!op) return null;
  if (op.state === "unknown") return { text: `operation: unknown (${op.error || "etcd not read"})`, manual: false };
  const moves = op.to ? ` ${op.from || "?"} → ${op.to}` : "";
  const steps = op.steps != null ? `, ${op.steps_done}/${op.steps} steps` : "";
  const who = op.instance ? ` by ${op.instance}` : "";
  const d = op.decision;
  const manual = op.state === "left" && d?.verdict === "manual";
  const tail = manual ? `: left for a person: ${d.reason}` : op.state === "left" ? " (left by a previous leader)" : "";
  return { text: `${op.kind}${moves}${who}${steps}${op.state === "running" ? " under way" : ""}${tail}`, manual };
}
