// isogen explorer: runs each run's exported encoder and decoder with ONNX Runtime Web.
// Shapes: a code is a Float32Array(D); a batch of codes or images is one flat Float32Array, row after row;
// images are 28 x 28 in [0, 1]. window.isogenExplorer is the page's handle for tests and the console.
"use strict";

const SIDE = 28, PIXELS = SIDE * SIDE, MAP_SIZE = 320, NEIGHBOURS = 6;
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];  // matplotlib's tab10, one per class

function fail(message) {  // a problem the user must fix: shown on the page, and every control stays off
  const box = document.getElementById("problem");
  box.textContent = message;
  box.hidden = false;
  document.getElementById("status").textContent = "not ready";
  window.isogenExplorer.problem = message;
  throw new Error(message);
}

function bytesOf(base64) {
  const text = atob(base64), bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}
const floatsOf = (base64) => new Float32Array(bytesOf(base64).buffer);

// ---- numbers: a seeded generator, the geometry, paths ----------------------------------------------
function randomStream(seed) {  // mulberry32 uniforms and Box-Muller normals: the page's draws repeat
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const normals = (n) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    return out;
  };
  return { uniform, normals };
}

const dot = (a, b) => a.reduce((s, v, i) => s + v * b[i], 0);
const norm = (a) => Math.sqrt(dot(a, a));
const scaled = (a, s) => a.map((v) => v * s);

// Where codes live, as isogen.geometry says: the unit sphere, or R^D as is. Each run's `space` is one of these.
const GEOMETRIES = {
  sphere: {
    symbol: "S", manifoldDim: (d) => d - 1, prior: "uniform on the sphere", backOn: " (back on the sphere)",
    normalize: (z) => scaled(z, 1 / norm(z)),
    slerpRadius: () => 1,  // slerp stays on the unit sphere
    distance: (c, z) => -dot(c, z),  // nearest by cosine (unit codes)
  },
  euclidean: {
    symbol: "R", manifoldDim: (d) => d, prior: "N(0, I)", backOn: "",
    normalize: (z) => z,
    slerpRadius: (t, na, nb) => (1 - t) * na + t * nb,  // the angle slerped, the norm interpolated
    distance: (c, z) => norm(c.map((v, j) => v - z[j])),
  },
};

function path(run, a, b, steps, mode) {  // isogen.geometry.interpolate for one pair: S codes, ends included
  const frames = [];
  const na = norm(a), nb = norm(b), ua = scaled(a, 1 / na), ub = scaled(b, 1 / nb);
  const omega = Math.acos(Math.min(Math.max(dot(ua, ub), -1 + 1e-7), 1 - 1e-7));
  for (let s = 0; s < steps; s++) {
    const t = s / (steps - 1);
    if (mode === "lerp") {
      frames.push(run.space.normalize(a.map((v, i) => (1 - t) * v + t * b[i])));
    } else {
      const arc = ua.map((v, i) => (Math.sin((1 - t) * omega) * v + Math.sin(t * omega) * ub[i]) / Math.sin(omega));
      frames.push(scaled(arc, run.space.slerpRadius(t, na, nb)));
    }
  }
  return frames;
}

function stack(codes) {
  const out = new Float32Array(codes.length * codes[0].length);
  codes.forEach((c, i) => out.set(c, i * c.length));
  return out;
}

// ---- the models --------------------------------------------------------------------------------------
class Run {
  constructor(info, index) {
    Object.assign(this, info);
    this.space = GEOMETRIES[info.geometry];
    this.index = index;
    this.codes = floatsOf(info.codes);
    this.map = floatsOf(info.map);
    this.draws = Object.fromEntries(Object.entries(info.draws).map(([name, pool]) => [name, floatsOf(pool)]));
    this.queue = Promise.resolve();  // one session call at a time
  }

  code(i) { return this.codes.slice(i * this.dim, (i + 1) * this.dim); }

  parts() { return this.decoding.kind === "flow" ? ["encoder", "velocity"] : ["encoder", "decoder"]; }

  async load() {
    this.sessions = {};
    for (const part of this.parts()) {
      const key = `${this.index}/${part}`;
      await loadScript(`models/${this.index}-${part}.js`).catch(() => null);
      const graph = (window.ISOGEN_MODELS || {})[key];
      if (!graph) fail(`The ONNX export models/${this.index}-${part}.js of run ${this.name} is missing or damaged; ` +
                       "write the folder again with isogen explore.");
      try {
        this.sessions[part] = await ort.InferenceSession.create(bytesOf(graph), { executionProviders: ["wasm"] });
      } catch (e) {
        fail(`ONNX Runtime Web cannot load models/${this.index}-${part}.js of run ${this.name} (${e.message}); ` +
             "write the folder again with isogen explore.");
      }
    }
  }

  call(part, feeds, stale) {
    // Sessions do not run concurrently, so calls wait their turn; one whose result is no longer wanted
    // (stale(): the mouse has moved on) is dropped when its turn comes, and so is the rest of its decode.
    // A decode that can go stale first lets the page handle its events (a mouse move makes it stale): ORT's
    // calls resolve as microtasks, and a chain of them would otherwise hold the page until the image is done.
    const result = this.queue.then(async () => {
      if (stale) await nextTask();
      if (stale && stale()) throw new Stale();
      return this.sessions[part].run(feeds);
    });
    this.queue = result.catch(() => null);
    return result;
  }

  async encode(images, n) {  // (n x 784) -> (n x D)
    const out = await this.call("encoder", { x: new ort.Tensor("float32", images, [n, 1, SIDE, SIDE]) });
    return out.z.data;
  }

  async decode(codes, n, noise, stale = null) {  // (n x D) -> (n x 784): the mean, or the flow's image from noise
    if (this.decoding.kind === "mean") {  // (784,): the flow's start for every image, ignored by a mean decoder
      return (await this.call("decoder", { z: new ort.Tensor("float32", codes, [n, this.dim]) }, stale)).image.data;
    }
    return this.integrate(codes, n, noise, stale);
  }

  async velocity(x, t, codes, n, stale) {
    const d = this.decoding, times = new Float32Array(n).fill(t);
    const run = (xs, ts, zs, rows) => this.call("velocity", {
      x: new ort.Tensor("float32", xs, [rows, 1, SIDE, SIDE]), t: new ort.Tensor("float32", ts, [rows]),
      z: new ort.Tensor("float32", zs, [rows, this.dim]) }, stale).then((o) => o.v.data);
    if (d.guidance === 1) return run(x, times, codes, n);
    const nulls = stack(Array.from({ length: n }, () => Float32Array.from(d.null)));
    const both = await run(concat(x, x), concat(times, times), concat(codes, nulls), 2 * n);
    const half = n * PIXELS, v = new Float32Array(half);  // unconditional + w (conditional - unconditional)
    for (let i = 0; i < half; i++) v[i] = both[half + i] + d.guidance * (both[i] - both[half + i]);
    return v;
  }

  async integrate(codes, n, noise, stale) {
    // The ODE from the page's noise x0 (t = 0) to the image (t = 1) on the exporter's fixed grid, with
    // torchdiffeq's fixed-grid steps: euler, midpoint, and its rk4 (the 3/8 rule).
    const d = this.decoding, h = 1 / d.steps, f = (x, t) => this.velocity(x, t, codes, n, stale);
    const axpy = (y, terms) => y.map((v, i) => terms.reduce((s, [c, k]) => s + c * k[i], v));
    let x = new Float32Array(n * PIXELS);
    for (let i = 0; i < n; i++) x.set(noise, i * PIXELS);
    for (let s = 0; s < d.steps; s++) {
      const t = s * h, k1 = await f(x, t);
      if (d.solver === "euler") {
        x = axpy(x, [[h, k1]]);
      } else if (d.solver === "midpoint") {
        x = axpy(x, [[h, await f(axpy(x, [[h / 2, k1]]), t + h / 2)]]);
      } else {  // rk4
        const k2 = await f(axpy(x, [[h / 3, k1]]), t + h / 3);
        const k3 = await f(axpy(x, [[h, k2], [-h / 3, k1]]), t + 2 * h / 3);
        const k4 = await f(axpy(x, [[h, k1], [-h, k2], [h, k3]]), t + h);
        x = axpy(x, [[h / 8, k1], [3 * h / 8, k2], [3 * h / 8, k3], [h / 8, k4]]);
      }
    }
    return x.map((v) => Math.min(Math.max((v + 1) / 2, 0), 1));
  }

  prior(stream) {  // the method's prior: uniform on the sphere, or N(0, I)
    return this.space.normalize(stream.normals(this.dim));
  }

  drawFrom(name, stream) {  // a code from one of the run's samplers: the prior drawn here, the others pre-drawn
    if (!this.samplers.includes(name)) return null;
    if (name === "prior") return { z: this.prior(stream), source: "prior" };
    const pool = this.draws[name], count = pool.length / this.dim, k = Math.floor(stream.uniform() * count);
    return { z: pool.slice(k * this.dim, (k + 1) * this.dim), source: `${name}:${k}`, count };
  }

  nearest(z, k) {  // test points closest to z: by cosine on the sphere (unit codes), by distance in R^D
    const scores = [];
    for (let i = 0; i < this.points; i++) {
      const c = this.code(i);
      scores.push([this.space.distance(c, z), i]);
    }
    return scores.sort((a, b) => a[0] - b[0]).slice(0, k).map((s) => s[1]);
  }

  place(z) {  // where a new code sits on the map: PCA projection, or its nearest test point under t-SNE
    if (this.map_kind !== "pca") {
      const i = this.nearest(z, 1)[0];
      return [this.map[2 * i], this.map[2 * i + 1]];
    }
    const centred = z.map((v, j) => v - this.mean[j]);
    return [dot(centred, this.directions[0]), dot(centred, this.directions[1])];
  }
}

class Stale extends Error {}  // a decode dropped because a newer request replaced it

const nextTask = () => new Promise((resolve) => {  // a macrotask without setTimeout's 4 ms clamp
  const channel = new MessageChannel();
  channel.port1.onmessage = resolve;
  channel.port2.postMessage(null);
});

function concat(a, b) {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const tag = document.createElement("script");
    tag.src = src;
    tag.onload = resolve;
    tag.onerror = () => reject(new Error(`cannot load ${src}`));
    document.body.appendChild(tag);
  });
}

// ---- drawing -----------------------------------------------------------------------------------------
function paint(canvas, images, count) {  // `count` images side by side on a (count*28 x 28) canvas
  canvas.width = SIDE * count;
  canvas.height = SIDE;
  const ctx = canvas.getContext("2d"), picture = ctx.createImageData(SIDE * count, SIDE);
  for (let k = 0; k < count; k++) {
    for (let p = 0; p < PIXELS; p++) {
      const grey = Math.round(255 * images[k * PIXELS + p]), o = 4 * ((p / SIDE | 0) * SIDE * count + k * SIDE + p % SIDE);
      picture.data.set([grey, grey, grey, 255], o);
    }
  }
  ctx.putImageData(picture, 0, 0);
  canvas.hidden = false;
}

window.isogenExplorer = { ready: null, problem: null };  // ui.js adds the page and its hooks
