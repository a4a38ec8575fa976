// The page: fetches MNIST and the classifier served beside it, drives the engine (pkg/, built
// from web/src by web/build.sh) in chunks that yield to the browser, and draws what it hands
// back. `?test=1` and `?bench=1` run the checks and the benchmark the CI's browser test reads
// (window.testResult, then document.title = 'done'); `?tune=0` runs the fixed GEMM drivers.
// The session is kept in the origin private file system at every report and offered back
// when the page opens again.

import init, { Lab, shader_modules } from './pkg/dcgan_web.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const SIDE = 28, SCALE = 3, GAP = 2;
// The GEMM drivers the engine's tuner chose for this browser's adapters (JSON it hands back).
const TUNING_KEY = 'dcgan-wgpu tuning cache';
const TUNE = params.get('tune') !== '0';

let lab = null;
let running = false;
let history = [];          // {iteration, d_loss, d_acc, g_loss}
let fids = [];             // {iteration, fid}
let started = null;        // {time, iteration} of the current training stretch
let adapterInfo = null;    // the browser's GPUAdapterInfo (wgpu's adapter name is empty here)
let pendingScore = null;   // the iteration whose score a Pause interrupted (it goes on at Train)
let busy = false;          // a GPU call the user started is running
let stopped = false;       // the session stopped on an error (diverged): Train starts anew
let sessionArch = null;    // the architecture of the session (`cgan`: told the digit)
let keepNoted = false;     // the page said once that this browser keeps no session

// The fields of the settings the engine names (its `setting` keys).
const FIELDS = { batch_size: 'batch', iterations: 'iterations', sample_interval: 'interval', seed: 'seed', 'adam.learning_rate': 'lr' };
const INPUTS = ['arch', 'batch', 'iterations', 'interval', 'seed', 'lr', 'scoring'];
// The book's length and batch of each network (chapter 8 trains 12,000 iterations at 32).
const BOOK = { full: { batch: '128', iterations: '20000' }, cgan: { batch: '32', iterations: '12000' } };
const DIGIT_ROWS = 'a row per digit, 0 to 9 (a column is one latent vector written as each digit)';
// Where the kept session lives (origin private file system).
const KEPT = 'session.safetensors', KEPT_INFO = 'session.json';

function message(text) {
  const m = $('message');
  m.textContent = text;
  m.style.display = text ? 'block' : 'none';
}

// Clears every message: each action the user starts begins with a clean page.
function clearErrors() {
  message('');
  for (const id of Object.values(FIELDS)) {
    $(`${id}-error`).textContent = '';
    $(id).classList.remove('invalid');
  }
}

// An engine error: beside its field when it names a setting, else in the message area.
function showError(prefix, e) {
  const field = e && e.setting && FIELDS[e.setting];
  if (field) {
    $(`${field}-error`).textContent = e.message;
    $(field).classList.add('invalid');
  } else {
    message(`${prefix}${e && e.message ? e.message : e}`);
  }
}

function log(line) {
  const l = $('log');
  l.textContent += line + '\n';
  l.scrollTop = l.scrollHeight;
}

// --- drawing ---------------------------------------------------------------------------------

function drawGrid(canvas, samples, rows, cols, scale) {
  const side = SIDE * scale;
  canvas.width = cols * side + (cols + 1) * GAP;
  canvas.height = rows * side + (rows + 1) * GAP;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(canvas.width, canvas.height);
  img.data.fill(128);
  for (let n = 0; n < rows * cols && (n + 1) * 784 <= samples.length; n++) {
    const x0 = GAP + (n % cols) * (side + GAP), y0 = GAP + Math.floor(n / cols) * (side + GAP);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const v = samples[n * 784 + Math.floor(y / scale) * SIDE + Math.floor(x / scale)];
        const g = Math.round(Math.min(1, Math.max(0, v * 0.5 + 0.5)) * 255);
        const i = 4 * ((y0 + y) * canvas.width + x0 + x);
        img.data[i] = img.data[i + 1] = img.data[i + 2] = g;
      }
    }
  }
  for (let i = 3; i < img.data.length; i += 4) img.data[i] = 255;
  ctx.putImageData(img, 0, 0);
}

function showGrid(report) {
  const conditional = sessionArch === 'cgan';
  drawGrid($('grid'), report.samples, report.rows, report.cols, conditional ? 2 : SCALE);
  $('caption').textContent = conditional ? `iteration ${report.iteration}: ${DIGIT_ROWS}` : '';
  const small = document.createElement('canvas');
  drawGrid(small, report.samples, report.rows, report.cols, 1);
  small.title = `iteration ${report.iteration}`;
  $('strip').appendChild(small);
}

function drawPlot() {
  const c = $('plot'), ctx = c.getContext('2d');
  const W = c.width, H = c.height, L = 44, R = 44, T = 12, B = 26;
  ctx.clearRect(0, 0, W, H);
  ctx.font = '11px system-ui';
  ctx.strokeStyle = '#999';
  ctx.strokeRect(L, T, W - L - R, H - T - B);
  if (history.length === 0) return;
  const maxIt = Math.max(1, history[history.length - 1].iteration);
  const maxLoss = Math.max(1e-6, ...history.map((h) => Math.max(h.d_loss, h.g_loss)));
  const x = (it) => L + (W - L - R) * it / maxIt;
  const yLoss = (v) => T + (H - T - B) * (1 - v / maxLoss);
  const yAcc = (v) => T + (H - T - B) * (1 - v);
  const line = (key, y, color) => {
    ctx.strokeStyle = color;
    ctx.beginPath();
    history.forEach((h, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x(h.iteration), y(h[key])));
    ctx.stroke();
  };
  line('d_loss', yLoss, '#1f77b4');
  line('g_loss', yLoss, '#d62728');
  line('d_acc', yAcc, '#2ca02c');
  ctx.fillStyle = '#444';
  ctx.fillText(maxLoss.toFixed(2), 4, T + 8);
  ctx.fillText('0', 30, H - B);
  ctx.fillText('100%', W - R + 4, T + 8);
  ctx.fillText(`iteration ${maxIt}`, W - R - 80, H - 8);
  const legend = [['D loss', '#1f77b4'], ['G loss', '#d62728'], ['D accuracy', '#2ca02c']];
  legend.forEach(([name, color], i) => { ctx.fillStyle = color; ctx.fillText(name, L + 8 + i * 80, H - 8); });
}

function showProgress() {
  const it = lab.iteration(), total = lab.total();
  let text = `iteration ${it} / ${total}`;
  if (started && it > started.iteration) {
    const rate = (it - started.iteration) / ((performance.now() - started.time) / 1000);
    const left = (total - it) / rate;
    text += ` · ${rate.toFixed(2)} iterations/s · ${left < 120 ? left.toFixed(0) + ' s' : (left / 60).toFixed(1) + ' min'} left`;
  }
  $('progress').textContent = text;
}

// --- training --------------------------------------------------------------------------------

// The fields as typed: the engine says what is wrong with a value.
function config() {
  return {
    batch_size: $('batch').value,
    iterations: $('iterations').value,
    sample_interval: $('interval').value,
    seed: $('seed').value,
    learning_rate: $('lr').value,
    arch: $('arch').value,
    eval_samples: $('scoring').checked ? 1000 : 0,
  };
}

async function handle(reports) {
  let trained = false;
  for (const r of reports) {
    if (r.iteration > 0) {
      log(r.line);
      history.push({ iteration: r.iteration, d_loss: r.d_loss, d_acc: r.d_acc, g_loss: r.g_loss });
      drawPlot();
      trained = true;
    }
    showGrid(r);
  }
  if (trained) await keepSession();
}

// --- the kept session ------------------------------------------------------------------------

async function keptDir() {
  if (!navigator.storage || !navigator.storage.getDirectory) throw new Error('this browser has no origin private file system');
  return await navigator.storage.getDirectory();
}

// A writable lands whole when it is closed (the browser writes a swap file until then).
async function writeKept(dir, name, data) {
  const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
  await w.write(data);
  await w.close();
}

// Keeps the session (the checkpoint, then what the page shows of it) in the browser's storage,
// so a reload or a closed tab loses at most the iterations since the last report.
async function keepSession() {
  try {
    const dir = await keptDir();
    const bytes = await lab.checkpoint();
    const info = {
      iteration: lab.iteration(), total: lab.total(), arch: sessionArch, saved: new Date().toISOString(),
      history, fids, log: $('log').textContent,
    };
    await writeKept(dir, KEPT, bytes);
    await writeKept(dir, KEPT_INFO, JSON.stringify(info));
    $('saved').style.display = 'none';
  } catch (e) {
    // Storage off or full (private windows, quotas): training goes on; said once.
    if (!keepNoted) log(`(this browser keeps no copy of the session: ${e.message || e})`);
    keepNoted = true;
  }
}

async function keptInfo() {
  const dir = await keptDir();
  return JSON.parse(await (await (await dir.getFileHandle(KEPT_INFO)).getFile()).text());
}

// Offers the kept session when the page opens.
async function offerKept() {
  let info;
  try {
    info = await keptInfo();
  } catch {
    return;  // nothing kept
  }
  const what = info.arch === 'cgan' ? 'conditional GAN (chapter 8)' : 'DCGAN (chapter 4)';
  $('saved-text').textContent = `This browser kept a session: ${what}, iteration ${info.iteration} of ` +
    `${info.total}, saved ${new Date(info.saved).toLocaleString()}.`;
  $('saved').style.display = 'block';
  $('resume').onclick = () => act('cannot continue the kept session: ', async () => {
    const dir = await keptDir();
    const bytes = new Uint8Array(await (await (await dir.getFileHandle(KEPT)).getFile()).arrayBuffer());
    await openBytes(bytes, 'the kept session', info);
    $('saved').style.display = 'none';
  });
  $('discard').onclick = () => act('cannot discard the kept session: ', async () => {
    const dir = await keptDir();
    for (const name of [KEPT_INFO, KEPT]) await dir.removeEntry(name).catch(() => {});
    $('saved').style.display = 'none';
  });
}

// Scores G a chunk at a time while training runs; a Pause stops between chunks and leaves the
// score pending: the next Train finishes it before training goes on.
async function score(iteration) {
  if (!lab.scoring()) return null;
  pendingScore = iteration;
  while (running) {
    const [done, total] = lab.score_progress();
    $('progress').textContent = `iteration ${iteration}: scoring (${done} / ${total})`;
    const result = await lab.score_step();
    if (result === null || result === undefined) continue;
    pendingScore = null;
    const s = JSON.parse(result);
    const labels = s.labels ? `, label acc.: ${(100 * s.labels.accuracy).toFixed(1)}%` : '';
    const line = `${iteration} [FID: ${s.fid.toFixed(2)}, IS: ${s.inception_score.toFixed(2)}, ` +
      `classes: ${s.class_entropy_bits.toFixed(2)} bits, confident: ${(100 * s.confident).toFixed(1)}%${labels}]`;
    log(line);
    $('scores').textContent = line;
    fids.push({ iteration, fid: s.fid });
    return s;
  }
  return null;
}

// Trains until the run's total or a pause, in chunks sized to about 100 ms so the tab stays
// responsive and a pause takes effect within one chunk.
async function trainLoop() {
  const interval = Math.max(1, Number($('interval').value));
  let chunk = 1;
  if (pendingScore !== null) {
    await score(pendingScore);
    if (pendingScore !== null) return;  // paused again
  }
  started = { time: performance.now(), iteration: lab.iteration() };
  while (running && lab.iteration() < lab.total()) {
    const it = lab.iteration(), total = lab.total();
    const nextReport = Math.min((Math.floor(it / interval) + 1) * interval, total);
    const n = Math.min(chunk, nextReport - it);
    const reporting = it + n === nextReport;
    const t0 = performance.now();
    let reports = await lab.advance(n, reporting);
    if (reporting && lab.scoring()) {
      reports = reports.concat(await lab.finish());
      await handle(reports);
      await score(lab.iteration());
      if (pendingScore !== null) return;  // paused while scoring
    } else {
      await handle(reports);
    }
    showProgress();
    const ms = performance.now() - t0;
    chunk = Math.max(1, Math.min(16, Math.round(n * 100 / Math.max(ms, 1))));
    await new Promise((r) => setTimeout(r, 0));
  }
  await handle(await lab.finish());
  showProgress();
}

async function onTrain() {
  const button = $('train');
  if (running) {
    // Takes effect at the end of the chunk in flight (about 100 ms of GPU work, or one
    // scoring chunk).
    running = false;
    button.textContent = 'Pausing...';
    button.disabled = true;
    return;
  }
  clearErrors();
  setBusy(true);
  try {
    const finished = lab.total() === 0 || lab.iteration() >= lab.total();
    if (stopped || (finished && pendingScore === null)) {
      stopped = false;
      await startSession();
    }
    running = true;
    button.textContent = 'Pause';
    button.disabled = false;
    await trainLoop();
  } catch (e) {
    stopped = lab.total() > 0;
    showError('training stopped: ', e);
  } finally {
    running = false;
    button.textContent = 'Train';
    setBusy(false);
    if (pendingScore === null) showProgress();
    else $('progress').textContent += ' · paused (the score goes on at Train)';
  }
}

async function startSession() {
  history = [];
  fids = [];
  $('strip').textContent = '';
  $('log').textContent = '';
  pendingScore = null;
  if (TUNE && !storedTuning()) log('timing the GEMM drivers on this adapter (the first start only; minutes on a software adapter)');
  const c = JSON.parse(await lab.start(JSON.stringify(config())));
  sessionArch = c.arch;
  saveTuning();
  log(`training ${c.iterations} iterations at batch ${c.batch_size} (${c.arch} arch, seed ${c.seed})`);
  // The grid before training: wait for it, so it is the strip's first.
  const before = await lab.advance(0, true);
  await handle(before.concat(await lab.finish()));
}

// While the GPU is busy with what the user started, only Pause stays clickable: the settings
// and every other action wait (the engine would refuse a second call anyway).
function setBusy(on) {
  busy = on;
  const noSession = lab.total() === 0;
  for (const id of INPUTS) $(id).disabled = on;
  for (const id of ['download', 'sample', 'walk']) $(id).disabled = on || noSession;
  $('digit').disabled = on || noSession || sessionArch !== 'cgan';
  $('open').disabled = on;
  if (on && !running) $('train').disabled = true;
  if (!on) $('train').disabled = false;
}

// Runs an action with the page busy, its errors shown, an old message cleared first.
async function act(prefix, f) {
  if (busy) return;
  clearErrors();
  setBusy(true);
  try {
    await f();
  } catch (e) {
    showError(prefix, e);
  } finally {
    setBusy(false);
  }
}

function onDownload() {
  return act('cannot save the checkpoint: ', async () => {
    const bytes = await lab.checkpoint();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    a.download = 'checkpoint.safetensors';
    a.click();
  });
}

function onOpen(event) {
  const file = event.target.files[0];
  if (!file) return;
  return act(`cannot open ${file.name}: `, async () => {
    await openBytes(new Uint8Array(await file.arrayBuffer()), file.name, null);
  });
}

// Continues a checkpoint (a file, or the kept session with what the page showed of it).
async function openBytes(bytes, name, kept) {
  const opened = JSON.parse(await lab.open_checkpoint(bytes, $('scoring').checked ? 1000 : 0));
  history = kept ? kept.history : [];
  fids = kept ? kept.fids : [];
  $('log').textContent = kept ? kept.log : '';
  $('strip').textContent = '';
  pendingScore = null;
  stopped = false;
  sessionArch = opened.config.arch;
  $('arch').value = opened.config.arch;
  $('batch').value = opened.config.batch_size;
  $('iterations').value = opened.config.iterations;
  $('seed').value = opened.config.seed;
  $('lr').value = opened.config.adam.learning_rate;
  log(`opened ${name}: iteration ${opened.iteration}, batch ${opened.config.batch_size}, ${opened.config.arch} arch`);
  drawPlot();
  const shown = (await lab.advance(0, true)).concat(await lab.finish());
  // A kept session's line and plot are already there.
  if (kept) shown.forEach(showGrid);
  else await handle(shown);
  showProgress();
}

// A grid or latent walks; a conditional generator draws the digit picked (or a row of each).
function onSample(steps) {
  return act('cannot draw: ', async () => {
    const seed = Math.floor(Math.random() * 1e6);
    if (sessionArch !== 'cgan') {
      const count = steps > 1 ? 4 : 16;
      const images = await lab.generate(seed, count, steps, new Uint32Array());
      drawGrid($('grid'), images, count, steps > 1 ? steps : 4, steps > 1 ? 1 : SCALE);
      $('caption').textContent = '';
      return;
    }
    const picked = $('digit').value;
    const digits = picked === 'all' ? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] : [Number(picked)];
    const count = picked === 'all' ? (steps > 1 ? 1 : 8) : (steps > 1 ? 4 : 16);
    const images = await lab.generate(seed, count, steps, new Uint32Array(digits));
    const [rows, cols] = steps > 1 ? [count * digits.length, steps] : (picked === 'all' ? [10, count] : [4, 4]);
    drawGrid($('grid'), images, rows, cols, steps > 1 || picked === 'all' ? 2 : SCALE);
    $('caption').textContent = picked === 'all'
      ? (steps > 1 ? 'a walk within each digit, 0 to 9' : DIGIT_ROWS)
      : (steps > 1 ? `${count} walks within the digit ${picked}` : `${count} samples of the digit ${picked}`);
  });
}

// Choosing a network puts the book's batch and length in the fields still holding the other's.
function onArch() {
  const to = BOOK[$('arch').value];
  for (const [id, value] of Object.entries(to)) {
    if (Object.values(BOOK).some((b) => b[id] === $(id).value)) $(id).value = value;
  }
}

// --- start-up --------------------------------------------------------------------------------

async function fetchBytes(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function openLab() {
  if (!navigator.gpu) {
    throw new NoWebGpu('This browser has no WebGPU (navigator.gpu is missing). Use a current Chrome, Edge or Safari, or Firefox with WebGPU on; in Chromium on Linux start it with --enable-unsafe-webgpu.');
  }
  const adapter = await navigator.gpu.requestAdapter();
  adapterInfo = adapter && adapter.info ? adapter.info : null;
  if (!adapter) {
    throw new NoWebGpu('WebGPU is present but offers no adapter (no GPU, or it is blocked). On Linux Chromium needs --enable-unsafe-webgpu.');
  }
  await init();
  const [images, labels, classifier] = await Promise.all([
    fetchBytes('data/train-images-idx3-ubyte.gz'),
    // Without the labels the page trains only the unconditional network.
    fetchBytes('data/train-labels-idx1-ubyte.gz').catch(() => new Uint8Array()),
    fetchBytes('data/mnist_classifier.safetensors').catch(() => new Uint8Array()),
  ]);
  return await Lab.open(images, labels, classifier, TUNE, storedTuning());
}

// Storage can be off or full (private windows, quotas): then each start tunes again, which
// costs time and changes no result, so it goes unsaid.
function storedTuning() {
  try {
    return localStorage.getItem(TUNING_KEY);
  } catch {
    return null;
  }
}

// Keeps what a start's tuning chose (the engine merges it into what is stored).
function saveTuning() {
  const text = lab.tuning_cache(storedTuning());
  if (!text) return;
  try {
    localStorage.setItem(TUNING_KEY, text);
  } catch {
    // as storedTuning
  }
}

class NoWebGpu extends Error {}

function describeAdapter() {
  const a = JSON.parse(lab.adapter());
  const mib = (b) => `${(b / 1048576).toFixed(0)} MiB`;
  const i = adapterInfo;
  const name = i ? [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') : '';
  a.browser_adapter = name;
  $('adapter').textContent = `WebGPU: ${name || a.description} · storage binding ${mib(a.max_storage_buffer_binding_size)}, ` +
    `${a.max_storage_buffers_per_shader_stage} storage buffers, workgroup memory ${a.max_compute_workgroup_storage_size / 1024} KiB · ` +
    (a.subgroup_kernels ? 'subgroup kernels' : 'portable kernels (no subgroups through wgpu here)');
  return a;
}

async function main() {
  // The browser compiler's verdict on every module comes first in a test: it is what explains
  // a kernel that does not compile when the engine starts.
  const shaders = params.get('test') === '1' && navigator.gpu ? await init().then(compileEveryShader).catch((e) => ({ error: String(e) })) : null;
  try {
    lab = await openLab();
  } catch (e) {
    message(e instanceof NoWebGpu ? e.message : `The GPU could not be opened: ${e}`);
    $('adapter').textContent = '';
    document.title = e instanceof NoWebGpu ? 'no-webgpu' : 'failed';
    window.testResult = { message: $('message').textContent, shaders };
    return;
  }
  describeAdapter();
  $('train').disabled = false;
  $('open').disabled = false;
  $('train').onclick = onTrain;
  $('download').onclick = onDownload;
  $('open').onchange = onOpen;
  $('sample').onclick = () => onSample(1);
  $('walk').onclick = () => onSample(10);
  $('arch').onchange = onArch;
  if (!params.get('test') && !params.get('bench')) await offerKept();
  if (params.get('test') === 'open') await runOpenTest();
  else if (params.get('test')) await runTest(shaders);
  else if (params.get('bench')) await runBench();
}

// --- the CI's checks -------------------------------------------------------------------------

// Compiles every module the engine has with the browser's own WGSL compiler (Tint), each
// entry point with each constant set it is used with; subgroup modules with `enable
// subgroups;` on a device with that feature (wgpu's WebGPU backend does not expose it).
async function compileEveryShader() {
  const adapter = await navigator.gpu.requestAdapter();
  const subgroups = adapter.features.has('subgroups');
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: subgroups ? ['subgroups'] : [],
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  });
  const out = [];
  for (const m of JSON.parse(shader_modules())) {
    if (m.subgroups && !subgroups) {
      out.push({ name: m.name, skipped: 'the adapter has no subgroups' });
      continue;
    }
    const errors = [];
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: m.name, code: (m.subgroups ? 'enable subgroups;\n' : '') + m.source });
    for (const msg of (await module.getCompilationInfo()).messages) {
      if (msg.type === 'error') errors.push(`${msg.lineNum}:${msg.linePos} ${msg.message}`);
    }
    let pipelines = 0;
    for (const constants of m.constants) {
      // The 128-row gemm_wide needs 24 KiB of workgroup memory: only where the adapter has it.
      if ('WIDE_ROWS' in constants && l.maxComputeWorkgroupStorageSize < 24576) continue;
      for (const entry of m.entries) {
        if ('WIDE_ROWS' in constants && entry !== 'gemm_wide') continue;
        try {
          await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: entry, constants } });
          pipelines++;
        } catch (e) {
          errors.push(`${entry} ${JSON.stringify(constants)}: ${e.message}`);
        }
      }
    }
    const scoped = await device.popErrorScope();
    if (scoped) errors.push(scoped.message);
    out.push({ name: m.name, subgroups: m.subgroups, pipelines, errors });
  }
  device.destroy();
  return { subgroups, modules: out };
}

function base64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function gridDrawn() {
  const c = $('grid'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let varied = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] !== 128) varied++;
  return varied;
}

async function runTest(shaders) {
  const result = { adapter: describeAdapter(), shaders };
  try {
    result.kernels = JSON.parse(await lab.kernel_checks());
    $('batch').value = params.get('batch') || 16;
    $('iterations').value = params.get('iterations') || 20;
    $('interval').value = params.get('interval') || 5;
    $('scoring').checked = params.get('scoring') === '1';
    await startSession();
    result.tuning = storedTuning();
    result.first_iteration = JSON.parse(await lab.check_first_iteration());
    running = true;
    const t0 = performance.now();
    await trainLoop();
    running = false;
    result.seconds = (performance.now() - t0) / 1000;
    result.iteration = lab.iteration();
    result.history = history;
    result.lines = $('log').textContent.trim().split('\n');
    result.grid_pixels = gridDrawn();
    result.strip = $('strip').children.length;
    result.checkpoint = base64(await lab.checkpoint());
    document.title = 'done';
  } catch (e) {
    result.error = String(e);
    document.title = 'failed';
  }
  window.testResult = result;
}

// Opens the checkpoint at `?checkpoint=` (one the command line trained), trains one more
// iteration from it and draws from it: the page continues and samples native runs (of either
// network).
async function runOpenTest() {
  const result = {};
  try {
    const bytes = await fetchBytes(params.get('checkpoint'));
    result.opened = JSON.parse(await lab.open_checkpoint(bytes, 0));
    const before = await lab.advance(0, true);
    await handle(before.concat(await lab.finish()));
    lab.set_total(result.opened.iteration + 1);
    running = true;
    await trainLoop();
    running = false;
    result.iteration = lab.iteration();
    result.lines = $('log').textContent.trim().split('\n');
    // A conditional generator draws sevens.
    const digits = new Uint32Array(result.opened.config.arch === 'cgan' ? [7] : []);
    const grid = await lab.generate(1, 16, 1, digits);
    result.generated = grid.length;
    result.generated_finite = grid.every(Number.isFinite);
    const walk = await lab.generate(2, 2, 5, digits);
    result.walk = walk.length;
    document.title = 'done';
  } catch (e) {
    result.error = String(e);
    document.title = 'failed';
  }
  window.testResult = result;
}

// Iterations per second at `batch` (after a warm-up), the figure BENCHMARKS.md records.
async function runBench() {
  const result = { adapter: describeAdapter(), runs: [] };
  try {
    for (const batch of (params.get('batch') || '32,128').split(',').map(Number)) {
      const iterations = Number(params.get('iterations') || 10);
      const t = performance.now();
      await lab.start(JSON.stringify({ batch_size: String(batch), iterations: String(iterations + 2), sample_interval: '1000000', eval_samples: 0 }));
      const start_seconds = (performance.now() - t) / 1000;
      saveTuning();
      await lab.advance(2, false);
      await lab.finish();
      const t0 = performance.now();
      let left = iterations;
      while (left > 0) {
        const n = Math.min(4, left);
        await lab.advance(n, false);
        left -= n;
      }
      await lab.finish();
      const s = (performance.now() - t0) / 1000;
      result.runs.push({ batch, iterations, seconds: s, iterations_per_second: iterations / s, start_seconds, tuned: TUNE });
    }
    document.title = 'done';
  } catch (e) {
    result.error = String(e);
    document.title = 'failed';
  }
  window.testResult = result;
}

main();
