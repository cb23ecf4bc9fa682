// The cluster actions the page offers, each behind a confirmation dialog, and the REST calls
// they make (the forms maxctrl uses).  A failed action shows the API's own
// error text in the dialog and in a notice.

import { $, toast } from "./dom.js";

const MON = "/v1/maxscale/modules/mariadbmon";

function args(...values) {
  return values.filter((v) => v !== null && v !== undefined && v !== "").map(encodeURIComponent).join("&");
}

const enc = encodeURIComponent;

/** name -> (params) => {title, text, ok, option?, call(api, optionChecked)} */
export const ACTIONS = {
  switchover: ({ monitor, server, primary }) => ({
    title: "Switchover",
    text: `Make ${server} the primary${primary ? ` in place of ${primary}` : ""}? Writes pause while ` +
      `${primary || "the old primary"} is fenced and ${server} catches up; ${primary || "the old primary"} then replicates from ${server}.`,
    ok: `Make ${server} primary`,
    call: (api) => api.request("POST", `${MON}/switchover?${args(monitor, server, primary)}`),
  }),
  failover: ({ monitor, server }) => ({
    title: "Failover",
    text: `The primary ${server} is down. Promote the most up-to-date replica and point the other servers at it? ` +
      `Transactions ${server} committed that no replica received are lost to the cluster.`,
    ok: "Fail over",
    call: (api) => api.request("POST", `${MON}/failover?${args(monitor)}`),
  }),
  rejoin: ({ monitor, server, primary }) => ({
    title: "Rejoin",
    text: `Point ${server} at the primary${primary ? ` ${primary}` : ""} and start replicating (CHANGE MASTER ... MASTER_USE_GTID=slave_pos)?`,
    ok: `Rejoin ${server}`,
    call: (api) => api.request("POST", `${MON}/rejoin?${args(monitor, server)}`),
  }),
  "set-maintenance": ({ server }) => ({
    title: "Maintenance",
    text: `Put ${server} in maintenance? The monitor leaves it alone and no new statement is routed to it.`,
    ok: "Set maintenance",
    option: "Also close the sessions that use it now (--force)",
    call: (api, force) => api.request("PUT", `/v1/servers/${enc(server)}/set?state=maintenance${force ? "&force=yes" : ""}`),
  }),
  "clear-maintenance": ({ server }) => ({
    title: "Maintenance",
    text: `Take ${server} out of maintenance?`,
    ok: "Clear maintenance",
    call: (api) => api.request("PUT", `/v1/servers/${enc(server)}/clear?state=maintenance`),
  }),
  "set-drain": ({ server }) => ({
    title: "Drain",
    text: `Drain ${server}? Running sessions keep it; new ones are not routed to it.`,
    ok: "Drain",
    call: (api) => api.request("PUT", `/v1/servers/${enc(server)}/set?state=drain`),
  }),
  "clear-drain": ({ server }) => ({
    title: "Drain",
    text: `Stop draining ${server}?`,
    ok: "Stop draining",
    call: (api) => api.request("PUT", `/v1/servers/${enc(server)}/clear?state=drain`),
  }),
  "kill-session": ({ session, user, remote }) => ({
    title: "Kill session",
    text: `Close session ${session} (${user}@${remote})? Its client is disconnected.`,
    ok: "Kill session",
    call: (api) => api.request("DELETE", `/v1/sessions/${enc(session)}`),
  }),
};

/** Ask, then run.  Resolves true when the action ran and succeeded. */
export function confirmAction(api, name, params, after) {
  const spec = ACTIONS[name](params);
  const dialog = $("confirm");
  const ok = $("confirm-ok");
  const cancel = $("confirm-cancel");
  const error = $("confirm-error");
  const option = $("confirm-option");
  const box = $("confirm-option-box");
  dialog.dataset.action = name;
  $("confirm-title").textContent = spec.title;
  $("confirm-text").textContent = spec.text;
  ok.textContent = spec.ok;
  ok.disabled = false;
  cancel.textContent = "Cancel";
  cancel.disabled = false;
  error.hidden = true;
  error.textContent = "";
  option.hidden = !spec.option;
  box.checked = false;
  $("confirm-option-text").textContent = spec.option || "";
  return new Promise((resolve) => {
    const finish = (result) => {
      $("confirm-form").onsubmit = null;
      cancel.onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(result);
    };
    cancel.onclick = () => finish(false);
    dialog.oncancel = (event) => {
      if (dialog.classList.contains("busy")) event.preventDefault();
    };
    dialog.onclose = () => finish(false);
    $("confirm-form").onsubmit = async (event) => {
      event.preventDefault();
      ok.disabled = true;
      cancel.disabled = true;
      ok.textContent = "Working…";
      dialog.classList.add("busy");
      try {
        await spec.call(api, box.checked);
        dialog.classList.remove("busy");
        toast(`${spec.ok}: done`, "ok");
        finish(true);
        if (after) after();
      } catch (exc) {
        dialog.classList.remove("busy");
        error.textContent = `${spec.ok} failed: ${exc.message}`;
        error.hidden = false;
        ok.textContent = spec.ok;
        ok.disabled = false;
        cancel.disabled = false;
        cancel.textContent = "Close";
        toast(`${spec.ok} failed: ${exc.message}`, "error");
        if (after) after();
      }
    };
    dialog.showModal();
    cancel.focus();
  });
}
