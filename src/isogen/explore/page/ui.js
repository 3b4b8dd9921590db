// The page's wiring: one column per run (map, decoded digit, path strip, sliders, drawing's neighbours),
// the same action applied to every run. Each column shows its run's "current" code: a clicked test digit,
// a prior sample, your drawing, moved by the sliders.
"use strict";

const page = { runs: [], images: null, labels: null, classes: null, stream: null, noise: null, picks: [], hover: null };

async function start() {
  if (typeof WebAssembly !== "object") {
    fail("This browser has no WebAssembly (or it is switched off), and the explorer runs the models with " +
         "ONNX Runtime Web, which needs it: open the page in a current Chrome, Firefox or Safari with WebAssembly on.");
  }
  if (!window.ort || !window.ISOGEN_WASM || !window.gifenc) {
    fail("vendor.js (ONNX Runtime Web and gifenc) is missing or damaged; write the folder again with isogen explore.");
  }
  if (!window.ISOGEN_DATA) fail("data.js (the runs' codes and maps) is missing or damaged; write the folder again " +
                                "with isogen explore.");
  ort.env.wasm.numThreads = 1;  // threads need a cross-origin-isolated server; file:// pages are not
  ort.env.wasm.wasmBinary = bytesOf(window.ISOGEN_WASM);  // a file:// page cannot fetch the .wasm beside it
  ort.env.wasm.wasmPaths = { mjs: URL.createObjectURL(new Blob([window.ISOGEN_WASM_GLUE], { type: "text/javascript" })) };
  const data = window.ISOGEN_DATA;
  page.images = bytesOf(data.images);
  page.labels = bytesOf(data.labels);
  page.classes = data.classes;
  page.stream = randomStream(data.seed + 1);
  page.noise = randomStream(data.seed + 2).normals(PIXELS);
  page.runs = data.runs.map((info, r) => Object.assign(new Run(info, r), { points: data.points }));
  for (const run of page.runs) await run.load();
  const holder = document.getElementById("runs");
  for (const run of page.runs) holder.appendChild(column(run));
  wireControls();
  const flows = page.runs.some((run) => run.decoding.kind === "flow");
  document.getElementById("noise").hidden = !flows;
  const menu = document.getElementById("sampler");
  for (const name of new Set(page.runs.flatMap((run) => run.samplers))) {
    element("option", { value: name, textContent: name }, menu);
  }
  for (const id of ["sample", "encode", "noise"]) document.getElementById(id).disabled = false;
  await Promise.all(page.runs.map((run) => setCurrent(run, run.code(0), "test:0", captionOfTest(0))));
  document.getElementById("status").textContent =
    `${page.runs.length} run(s), ${data.points} test images of ${page.runs[0].dataset}`;
  document.body.dataset.ready = "yes";
}

function element(tag, attributes = {}, parent = null) {
  const node = Object.assign(document.createElement(tag), attributes);
  if (parent) parent.appendChild(node);
  return node;
}

const captionOfTest = (i) => `test image #${i} (${page.classes[page.labels[i]]})`;

// ---- one column per run ------------------------------------------------------------------------------
function column(run) {
  const box = element("article", { className: "run" });
  element("h2", { textContent: run.name }, box);
  element("p", { className: "facts", textContent: `${run.method} · ${run.space.symbol}` +
    `^${run.space.manifoldDim(run.dim)} · ${run.encoder} encoder · ${run.decoder} decoder · ` +
    `map: ${run.map_kind === "pca" ? "PCA" : "t-SNE"}` }, box);
  const map = element("canvas", { className: "map", width: MAP_SIZE, height: MAP_SIZE }, box);
  const legend = element("div", { className: "legend" }, box);
  page.classes.forEach((name, k) => {
    legend.innerHTML += `<span><i style="background:${COLOURS[k % COLOURS.length]}"></i>${name}</span>`;
  });
  const row = element("div", { className: "row" }, box);
  const digit = element("canvas", { className: "digit", width: SIDE, height: SIDE }, row);
  const player = element("img", { className: "digit", hidden: true, title: "the path A → B, forth and back" }, row);
  const caption = element("div", { className: "caption" }, row);
  const strip = element("canvas", { className: "strip", width: SIDE, height: SIDE, hidden: true }, box);
  const sliders = element("div", { className: "sliders" }, box);
  element("div", { className: "caption", textContent: "principal directions of the test codes around the current code" +
    run.space.backOn }, sliders);
  const inputs = run.directions.map((_, k) => {
    const label = element("label", { textContent: `PC${k + 1} ` }, sliders);
    const input = element("input", { type: "range", min: -3, max: 3, step: 0.05, value: 0 }, label);
    label.append(` ±3σ, σ = ${run.spreads[k].toFixed(3)}`);
    input.addEventListener("input", () => moveAlongDirections(run));
    return input;
  });
  const neighbourCaption = element("div", { className: "caption" }, box);
  const neighbours = element("canvas", { className: "neighbours", width: SIDE, height: SIDE, hidden: true }, box);
  run.view = { map, digit, player, caption, strip, inputs, neighbours, neighbourCaption, base: null, here: null,
               bounds: null };
  wireMap(run);
  drawMap(run);
  return box;
}

function wireMap(run) {
  const { map } = run.view;
  const pointAt = (event) => {
    const rect = map.getBoundingClientRect(), x = event.clientX - rect.left, y = event.clientY - rect.top;
    let best = null, bestDistance = 10 * 10;
    for (let i = 0; i < run.points; i++) {
      const [px, py] = toScreen(run, run.map[2 * i], run.map[2 * i + 1]);
      const d = (px - x) ** 2 + (py - y) ** 2;
      if (d < bestDistance) [best, bestDistance] = [i, d];
    }
    return best;
  };
  map.addEventListener("mousemove", (event) => {
    const i = pointAt(event);
    if (i === page.hover) return;
    page.hover = i;
    page.runs.forEach(drawMap);
    if (i !== null) page.runs.forEach((r) => show(r, r.code(i), `hover:${i}`, `hover: ${captionOfTest(i)}`));
  });
  map.addEventListener("mouseleave", () => {
    page.hover = null;
    page.runs.forEach(drawMap);
    page.runs.forEach((r) => r.view.base && moveAlongDirections(r));
  });
  map.addEventListener("click", (event) => {
    const i = pointAt(event);
    if (i === null) return;
    page.picks = page.picks.length === 1 ? [page.picks[0], i] : [i];
    document.getElementById("picks").textContent = page.picks.length === 1
      ? `A = ${captionOfTest(i)}; click B` : `A = #${page.picks[0]}, B = #${i}; click again to start a new path`;
    page.runs.forEach((r) => setCurrent(r, r.code(i), `test:${i}`, captionOfTest(i)));
    if (page.picks.length === 2) walk();
  });
}

function mapBounds(run) {
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < run.points; i++) {
    const x = run.map[2 * i], y = run.map[2 * i + 1];
    [x0, x1, y0, y1] = [Math.min(x0, x), Math.max(x1, x), Math.min(y0, y), Math.max(y1, y)];
  }
  const pad = 0.04 * Math.max(x1 - x0, y1 - y0, 1e-9);
  return [x0 - pad, x1 + pad, y0 - pad, y1 + pad];
}

function toScreen(run, x, y) {
  run.view.bounds = run.view.bounds || mapBounds(run);
  const [x0, x1, y0, y1] = run.view.bounds, span = Math.max(x1 - x0, y1 - y0);
  return [(x - x0) / span * MAP_SIZE, MAP_SIZE - (y - y0) / span * MAP_SIZE];
}

function drawMap(run) {
  const ctx = run.view.map.getContext("2d");
  ctx.clearRect(0, 0, MAP_SIZE, MAP_SIZE);
  ctx.globalAlpha = 0.55;
  for (let i = 0; i < run.points; i++) {
    const [x, y] = toScreen(run, run.map[2 * i], run.map[2 * i + 1]);
    ctx.fillStyle = COLOURS[page.labels[i] % COLOURS.length];
    ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
  }
  ctx.globalAlpha = 1;
  const ring = (i, text) => {
    const [x, y] = toScreen(run, run.map[2 * i], run.map[2 * i + 1]);
    ctx.beginPath();
    ctx.arc(x, y, 6, 0, 2 * Math.PI);
    ctx.stroke();
    if (text) ctx.fillText(text, x + 8, y - 6);
  };
  ctx.strokeStyle = ctx.fillStyle = "#000";
  ctx.lineWidth = 2;
  ctx.font = "bold 13px system-ui";
  page.picks.forEach((i, k) => ring(i, "AB"[k]));
  if (page.hover !== null) ring(page.hover, "");
  if (run.view.here) {  // the current code: a cross
    const [x, y] = toScreen(run, ...run.view.here);
    ctx.strokeStyle = "#d00";
    ctx.beginPath();
    ctx.moveTo(x - 7, y - 7); ctx.lineTo(x + 7, y + 7); ctx.moveTo(x + 7, y - 7); ctx.lineTo(x - 7, y + 7);
    ctx.stroke();
  }
}

// ---- what each column shows --------------------------------------------------------------------------
async function show(run, z, source, caption) {  // decode z into the column's digit; the latest request wins
  const { digit } = run.view, token = (run.view.token = (run.view.token || 0) + 1);
  digit.dataset.state = "busy";
  const started = performance.now(), stale = () => token !== run.view.token;
  let image;
  try {
    image = await run.decode(z, 1, page.noise, stale);
  } catch (e) {
    if (e instanceof Stale) return;
    throw e;
  }
  if (stale()) return;
  const ms = performance.now() - started;
  paint(digit, image, 1);
  run.view.caption.textContent = `${caption} · decoded in ${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  run.view.shown = { z, image };
  Object.assign(digit.dataset, { source, state: "done", ms });
}

function setCurrent(run, z, source, caption) {
  run.view.base = { z, source, caption };
  run.view.inputs.forEach((input) => { input.value = 0; });
  run.view.here = run.place(z);
  drawMap(run);
  return show(run, z, source, caption);
}

function moveAlongDirections(run) {  // base + sum_k alpha_k sigma_k u_k, renormalised on the sphere
  const { base, inputs } = run.view;
  const alphas = inputs.map((input) => Number(input.value));
  let z = Float32Array.from(base.z);
  alphas.forEach((a, k) => { z = z.map((v, j) => v + a * run.spreads[k] * run.directions[k][j]); });
  z = run.space.normalize(z);
  const moved = alphas.some((a) => a !== 0);
  run.view.here = run.place(z);
  drawMap(run);
  return show(run, z, moved ? `${base.source}+sliders` : base.source,
              moved ? `${base.caption}, moved by the sliders` : base.caption);
}

async function walk() {  // the path between the picks A and B in every run, decoded with the same noise
  const steps = Math.min(Math.max(Number(document.getElementById("steps").value) || 10, 3), 24);
  const mode = document.getElementById("mode").value;
  const [a, b] = page.picks;
  await Promise.all(page.runs.map(async (run) => {
    const frames = path(run, run.code(a), run.code(b), steps, mode);
    const images = await run.decode(stack(frames), steps, page.noise);
    paint(run.view.strip, images, steps);
    run.view.strip.title = `${mode} from A = #${a} to B = #${b}`;
    run.view.frames = images;
    URL.revokeObjectURL(run.view.player.src);
    run.view.player.src = URL.createObjectURL(new Blob([gifOf([images])], { type: "image/gif" }));
    run.view.player.hidden = false;
    run.view.strip.dataset.path = `${mode}:${a}->${b}:${steps}`;
  }));
  document.getElementById("gif").disabled = false;
}

function gifOf(paths) {  // paths (each S images) side by side, forth and back, 4x enlarged: GIF bytes
  const scale = 4, steps = paths[0].length / PIXELS, width = paths.length * SIDE * scale;
  const height = SIDE * scale, palette = Array.from({ length: 256 }, (_, v) => [v, v, v]);
  const encoder = gifenc.GIFEncoder();
  const order = [...Array(steps).keys(), ...[...Array(steps).keys()].reverse().slice(1, -1)];
  for (const s of order) {
    const index = new Uint8Array(width * height);
    paths.forEach((frames, r) => {
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < SIDE * scale; x++) {
          const grey = frames[s * PIXELS + (y / scale | 0) * SIDE + (x / scale | 0)];
          index[y * width + r * SIDE * scale + x] = Math.round(255 * grey);
        }
      }
    });
    encoder.writeFrame(index, width, height, { palette, delay: 120 });
  }
  encoder.finish();
  return encoder.bytes();
}

function testImages(indices) {  // the page's test images `indices`, 784 values in [0, 1] each
  const out = new Float32Array(indices.length * PIXELS);
  indices.forEach((i, k) => { for (let p = 0; p < PIXELS; p++) out[k * PIXELS + p] = page.images[i * PIXELS + p] / 255; });
  return out;
}

// ---- drawing a digit ---------------------------------------------------------------------------------
function wirePad() {
  const pad = document.getElementById("pad"), ctx = pad.getContext("2d");
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height); };
  clear();
  let last = null;
  const at = (e) => { const r = pad.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  pad.addEventListener("mousedown", (e) => { last = at(e); });
  pad.addEventListener("mousemove", (e) => {
    if (!last) return;
    const next = at(e);
    Object.assign(ctx, { strokeStyle: "#fff", lineWidth: 20, lineCap: "round", lineJoin: "round" });
    ctx.beginPath(); ctx.moveTo(...last); ctx.lineTo(...next); ctx.stroke();
    last = next;
  });
  const lift = () => { if (last) { last = null; encodeDrawing(); } };
  pad.addEventListener("mouseup", lift);
  pad.addEventListener("mouseleave", lift);
  document.getElementById("clear").addEventListener("click", clear);
  document.getElementById("encode").addEventListener("click", encodeDrawing);
}

function mnistLike(pad) {
  // MNIST's own preparation: the ink's bounding box scaled into 20 x 20, then shifted so that its centre of
  // mass sits at the centre of the 28 x 28 frame. Returns 784 values in [0, 1], or null for an empty pad.
  const ink = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
  let [x0, x1, y0, y1] = [pad.width, -1, pad.height, -1];
  for (let p = 0; p < pad.width * pad.height; p++) {
    if (ink[4 * p] > 0) {
      const x = p % pad.width, y = p / pad.width | 0;
      [x0, x1, y0, y1] = [Math.min(x0, x), Math.max(x1, x), Math.min(y0, y), Math.max(y1, y)];
    }
  }
  if (x1 < 0) return null;
  const box = Math.max(x1 - x0 + 1, y1 - y0 + 1), size = 20 * (x1 - x0 + 1) / box, tall = 20 * (y1 - y0 + 1) / box;
  const small = document.createElement("canvas");
  small.width = small.height = SIDE;
  const sctx = small.getContext("2d");
  sctx.imageSmoothingQuality = "high";
  sctx.drawImage(pad, x0, y0, x1 - x0 + 1, y1 - y0 + 1, (SIDE - size) / 2, (SIDE - tall) / 2, size, tall);
  const grey = sctx.getImageData(0, 0, SIDE, SIDE).data, values = new Float32Array(PIXELS);
  let mass = 0, mx = 0, my = 0;
  for (let p = 0; p < PIXELS; p++) {
    const v = grey[4 * p] / 255;
    mass += v; mx += v * (p % SIDE); my += v * (p / SIDE | 0);
  }
  const dx = Math.round(13.5 - mx / mass), dy = Math.round(13.5 - my / mass);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const sx = x - dx, sy = y - dy;
      values[y * SIDE + x] = sx >= 0 && sx < SIDE && sy >= 0 && sy < SIDE ? grey[4 * (sy * SIDE + sx)] / 255 : 0;
    }
  }
  return values;
}

async function encodeDrawing() {
  const input = mnistLike(document.getElementById("pad"));
  if (!input) {
    document.getElementById("picks").textContent = "Draw a digit on the black pad first.";
    return;
  }
  paint(document.getElementById("input28"), input, 1);
  window.isogenExplorer.drawn = { input, codes: [] };
  await Promise.all(page.runs.map(async (run) => {
    const z = Float32Array.from(await run.encode(input, 1));
    window.isogenExplorer.drawn.codes[run.index] = z;
    const near = run.nearest(z, NEIGHBOURS);
    paint(run.view.neighbours, testImages(near), near.length);
    run.view.neighbours.hidden = false;
    run.view.neighbourCaption.textContent = `nearest test digits to your drawing: ${near.map((i) => page.labels[i]).join(" ")}`;
    await setCurrent(run, z, "drawing", "your drawing, encoded and decoded");
  }));
}

// ---- controls ----------------------------------------------------------------------------------------
function wireControls() {
  document.getElementById("sample").addEventListener("click", () => {
    const name = document.getElementById("sampler").value;
    page.runs.forEach((run) => {
      const draw = run.drawFrom(name, page.stream);
      if (!draw) {
        run.view.caption.textContent = `this run has no ${name} sampler (it has ${run.samplers.join(", ")})`;
        return;
      }
      setCurrent(run, draw.z, draw.source, name === "prior"
        ? `a draw from the prior (${run.space.prior})`
        : `draw ${draw.source.split(":")[1]} of the fitted ${name} sampler (${draw.count} drawn at export)`);
    });
  });
  document.getElementById("noise").addEventListener("click", () => {
    page.noise = page.stream.normals(PIXELS);
    page.runs.forEach((run) => run.view.base && moveAlongDirections(run));
    if (page.picks.length === 2) walk();
  });
  for (const id of ["mode", "steps"]) {
    document.getElementById(id).addEventListener("change", () => page.picks.length === 2 && walk());
  }
  document.getElementById("gif").addEventListener("click", () => {
    const bytes = gifOf(page.runs.map((run) => run.view.frames)), link = document.createElement("a");
    window.isogenExplorer.gif = bytes;
    link.href = URL.createObjectURL(new Blob([bytes], { type: "image/gif" }));
    link.download = `isogen-path-${page.picks.join("-")}.gif`;
    link.click();
  });
  wirePad();
}

Object.assign(window.isogenExplorer, {
  page,
  pointOnMap: (r, i) => toScreen(page.runs[r], page.runs[r].map[2 * i], page.runs[r].map[2 * i + 1]),
  decode: async (r, z) => Array.from(await page.runs[r].decode(Float32Array.from(z), 1, page.noise)),
});
window.isogenExplorer.ready = start().catch((e) => {
  if (!window.isogenExplorer.problem) {
    window.isogenExplorer.problem = `the explorer failed to start: ${e.message}`;
    document.getElementById("problem").textContent = window.isogenExplorer.problem;
    document.getElementById("problem").hidden = false;
  }
});
