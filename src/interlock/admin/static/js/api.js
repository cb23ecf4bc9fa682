// The REST API as the page uses it: a token from GET /v1/auth kept in sessionStorage (or the
// HttpOnly cookie of ?persist=yes), X-Requested-With on every request (a 401 then comes without
// WWW-Authenticate, so the browser shows no password dialog of its own).

const TOKEN_KEY = "interlock.token";
const ACCOUNT_KEY = "interlock.account";
const USER_KEY = "interlock.user";
const TOKEN_AGE = 8 * 3600; // seconds asked for; the proxy caps it at admin_jwt_max_age
const TIMEOUT_MS = 8000;

export class ApiError extends Error {
  constructor(status, detail, path) {
    super(detail);
    this.status = status;
    this.path = path;
  }
}

function detailOf(body, status, statusText) {
  const errors = body && Array.isArray(body.errors) ? body.errors : [];
  const text = errors.map((e) => e.detail || e.title || JSON.stringify(e)).join("; ");
  return text || `${status} ${statusText || "error"}`;
}

export class Api {
  constructor() {
    this.token = sessionStorage.getItem(TOKEN_KEY);
    this.account = sessionStorage.getItem(ACCOUNT_KEY) || "";
    this.user = sessionStorage.getItem(USER_KEY) || "";
  }

  get canWrite() {
    return this.account !== "basic";
  }

  headers(basic) {
    const h = { "X-Requested-With": "XMLHttpRequest", Accept: "application/json" };
    if (basic) h.Authorization = "Basic " + btoa(unescape(encodeURIComponent(`${basic.user}:${basic.password}`)));
    else if (this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  /** {status, body}; throws ApiError for a non-2xx answer or a network failure. */
  async request(method, path, { basic, body } = {}) {
    const headers = this.headers(basic);
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const abort = new AbortController();
    const timer = method === "GET" ? setTimeout(() => abort.abort(), TIMEOUT_MS) : null;
    init.signal = abort.signal;
    let response;
    try {
      response = await fetch(path, init);
    } catch (exc) {
      throw new ApiError(0, `no answer from the proxy (${exc.name === "AbortError" ? "timed out" : exc.message})`, path);
    } finally {
      if (timer) clearTimeout(timer);
    }
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!response.ok) throw new ApiError(response.status, detailOf(parsed, response.status, response.statusText), path);
    return { status: response.status, body: parsed };
  }

  get(path) {
    return this.request("GET", path).then((r) => r.body);
  }

  remember(token, account, user) {
    this.token = token;
    this.account = account || "";
    this.user = user || "";
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(ACCOUNT_KEY, this.account);
    sessionStorage.setItem(USER_KEY, this.user);
  }

  /** Sign in with a user and password; persist: also set the HttpOnly cookie. */
  async login(user, password, persist) {
    const basic = { user, password };
    const { body } = await this.request("GET", `/v1/auth?max-age=${TOKEN_AGE}`, { basic });
    if (persist) await this.request("GET", `/v1/auth?persist=yes&max-age=${TOKEN_AGE}`, { basic });
    this.remember(body.meta.token, body.meta.account, user);
  }

  /** A token without asking for a password: a still valid one in sessionStorage, or the
   *  persist cookie, or admin_auth=false.  False when the user has to sign in. */
  async resume() {
    if (this.token) {
      try {
        await this.request("GET", "/v1/");
        return true;
      } catch (exc) {
        if (exc.status !== 401) throw exc;
        this.forget();
      }
    }
    try {
      const { body } = await this.request("GET", `/v1/auth?max-age=${TOKEN_AGE}`);
      this.remember(body.meta.token, body.meta.account, this.user || "(cookie)");
      return true;
    } catch (exc) {
      if (exc.status === 401) return false;
      throw exc;
    }
  }

  forget() {
    this.token = null;
    this.account = "";
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(ACCOUNT_KEY);
    sessionStorage.removeItem(USER_KEY);
  }

  async logout() {
    this.forget();
    try {
      await this.request("POST", "/dashboard/logout");
    } catch {
      // the cookie may not exist; nothing else to undo
    }
  }
}
