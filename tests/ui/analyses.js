// Drive HistomicsUI's Analyses menu in headless chromium as a logged-in pathologist:
//   node analyses.js CONFIG.json
// CONFIG: {url, login, password, image, imageParams: {cli: [names]}, shots, settleMs} and
//   panels: [cli, ...]            open each panel, screenshot it and stop; or
//   runs: [RUN, ...]              one after the other in the same page; or the keys of one RUN:
//   RUN = {cli, name, fill: {param: value}, folder: {param, path: [folder, ...]},
//          clicks: [{x, y, name}], submit: true}
// Logs in, opens the slide, picks Analyses -> image -> tag -> cli, reads the panel and
// screenshots it. Then types ``fill`` into the panel, picks ``folder`` in Girder's folder
// browser, and either clicks each point on the viewer (x, y in base-image pixels; HistomicsUI
// submits on each click, the region's "submiton") or presses Submit. Talks JSON lines on stdout;
// after each submit it waits for one line on stdin (the test runs the job meanwhile), then
// screenshots the result.
const fs = require('fs');
const readline = require('readline');
const { chromium } = require('playwright-core');
const { settle } = require('./settle');

const emit = (event) => console.log(JSON.stringify(event));
let page = null;
let config = null;
const errorsSeen = [];
const annotationsLoaded = [];

// The image pixel under the mouse, as HistomicsUI's coordinate display shows it
async function pointerAt(p, x, y) {
  await p.mouse.move(x, y);
  await p.waitForTimeout(200);
  const text = await p.textContent('.h-image-coordinates');
  const [ix, iy] = text.split(',').map(Number);
  return { x: ix, y: iy };
}

// Where to click for image pixel ``point``: read the display at two spots and solve the
// (axis-aligned) mapping, as a user aims by the coordinates shown
async function displayPoint(p, point) {
  const box = await p.locator('.h-image-view-body .geojs-map, .geojs-map').first().boundingBox();
  const a = { x: box.x + box.width * 0.3, y: box.y + box.height * 0.3 };
  const b = { x: box.x + box.width * 0.7, y: box.y + box.height * 0.7 };
  const ia = await pointerAt(p, a.x, a.y);
  const ib = await pointerAt(p, b.x, b.y);
  const sx = (b.x - a.x) / (ib.x - ia.x);
  const sy = (b.y - a.y) / (ib.y - ia.y);
  return { x: a.x + (point.x - ia.x) * sx, y: a.y + (point.y - ia.y) * sy };
}

// Analyses -> image -> tag -> CLI (bootstrap-submenu opens each level on a click); wait until
// HistomicsUI has filled the image parameters, read the panel and screenshot it
async function openPanel(p, panel, cli, suffix = '') {
  await p.click('.h-analyses-dropdown-link');
  await p.click(`.h-analyses-dropdown a[data-name="${config.image}"]`);
  await p.click(`.h-analyses-dropdown a[data-name="${config.image}"] + ul > li > a`);
  await p.click(`a.h-analysis-item[data-image="${config.image}"][data-cli="${cli}"]`);
  await p.waitForFunction((names) => {
    const title = document.querySelector('#h-analysis-panel .s-panel');
    return title && names.every((name) => {
      const el = document.querySelector(`#h-analysis-panel input#${name}`);
      return el && el.value;
    });
  }, (config.imageParams || {})[cli] || [], { timeout: 60000 });
  await p.waitForTimeout(1000);
  const groups = await panel.locator('.s-panel .s-panel-title, .s-panel .panel-title').allTextContents();
  const values = await panel.evaluate((node) => {
    const out = {};
    node.querySelectorAll('input[id], select[id]').forEach((el) => { out[el.id] = el.value; });
    return out;
  });
  // what the first screen shows: the fields outside collapsed (advanced) groups
  const shown = await panel.locator('.s-panel-content .s-control-item:visible')
    .evaluateAll((items) => items.map((el) => el.getAttribute('data-control-id')));
  const title = (await panel.locator('.s-panel-title, h3, h4').first().textContent().catch(() => '')) || '';
  await p.screenshot({ path: `${config.shots}/analyses_page${suffix}.png` });
  await panel.screenshot({ path: `${config.shots}/analyses_panel${suffix}.png` });
  return { event: 'panel', cli, groups: groups.map((g) => g.trim()), values, shown,
    title: title.trim() };
}

// type into the panel's fields (e.g. Text Queries), as a user does
async function fillPanel(panel, fill) {
  for (const [name, value] of Object.entries(fill)) {
    const field = panel.locator(`input#${name}`);
    if (!(await field.isVisible())) {
      // a field of a collapsed (advanced) group: open the group, as a user does
      await field.locator('xpath=ancestor::*[contains(@class, "s-panel-content")][1]/preceding-sibling::*[contains(@class, "s-panel-title-container")][1]').click();
      await field.waitFor({ state: 'visible', timeout: 10000 });
    }
    await field.fill(value);
    await field.dispatchEvent('change');
  }
}

// A folder parameter: the folder button opens Girder's browser at the user's home; open each
// folder of ``path`` in turn and confirm, as a user picks the folder to search
async function pickFolder(p, panel, param, path) {
  const control = panel.locator(`input#${param}`).locator('xpath=ancestor::*[contains(@class, "input-group")][1]');
  await control.locator('.s-select-file-button').click();
  const dialog = p.locator('#g-dialog-container');
  await dialog.locator('.g-hierarchy-widget').waitFor({ timeout: 30000 });
  for (const name of path) {
    const link = dialog.locator('a.g-folder-list-link', { hasText: name }).first();
    await link.waitFor({ timeout: 30000 });
    await link.click();
    await dialog.locator('.g-hierarchy-breadcrumb-bar', { hasText: name }).waitFor({ timeout: 30000 });
  }
  await p.screenshot({ path: `${config.shots}/analyses_folder_dialog.png` });
  await dialog.locator('.g-submit-button').click();
  await p.waitForFunction(({ id, name }) => {
    const el = document.querySelector(`#h-analysis-panel input#${id}`);
    return el && el.value === name;
  }, { id: param, name: path[path.length - 1] }, { timeout: 30000 });
}

// ``act`` makes HistomicsUI submit (a click on the slide or the Submit button): report the
// request, wait for the test to run the job (one stdin line), then screenshot the result
async function submitAndShoot(p, input, index, name, annotationRequests, act, extra = {}) {
  const submitted = p.waitForResponse(
    (response) => /\/slicer_cli_web\/.*\/run$/.test(response.url().split('?')[0]) &&
      response.request().method() === 'POST', { timeout: 60000 });
  const actedAt = Date.now() / 1000;
  await act();
  const response = await submitted;
  const params = Object.fromEntries(new URLSearchParams(response.request().postData() || ''));
  emit({ event: 'submitted', index, name, params, job: await response.json(),
    status: response.status(), actedAt, ...extra });
  // the test has run the job; its line names the annotations the job posted (JSON list)
  const line = (await input.next()).value || '';
  const expected = line.trim() ? JSON.parse(line) : [];
  await p.waitForTimeout(config.settleMs || 2000);
  await settle(p, () => expected.every((id) => annotationsLoaded.some(
    (entry) => entry.url.includes(id) && entry.at >= actedAt)));
  await p.screenshot({ path: `${config.shots}/analyses_${name}.png` });
  emit({ event: 'shot', index, name, annotationRequests: [...annotationRequests],
    annotationsLoaded: [...annotationsLoaded] });
}

// Key points: switch "submit on" on (once), pick the point tool and click each point;
// HistomicsUI submits on each click (the region's "submiton")
async function clickPoints(p, panel, input, clicks, annotationRequests) {
  // slicer_cli_web 1.5.14 renders the "submiton" toggle switched off (its first render reads
  // the state from the still empty widget), so the user switches it on once in the key-point
  // dropdown, then picks the point tool
  const keypoints = panel.locator('.s-select-region-button[parent-id="keypoints"]').first()
    .locator('xpath=ancestor::*[contains(@class, "input-group-btn")][1]');
  const toggle = keypoints.locator('.s-select-region-submit-button');
  const submitOnAtStart = await toggle.evaluate((el) => el.classList.contains('enabled'));
  if (!submitOnAtStart) {
    await keypoints.locator('.dropdown-toggle').click();
    await toggle.click();
  }
  const submitOn = await toggle.evaluate((el) => el.classList.contains('enabled'));
  emit({ event: 'submiton', atStart: submitOnAtStart, now: submitOn });
  // Key points take points, rectangles and polygons: the visible button draws the first shape
  // slicer_cli_web lists (a rectangle), and the point tool is in the drop-down
  const pointTool = keypoints.locator(
    '.dropdown-menu .s-select-region-button[shape="point"][multi="false"]').first();
  for (const [index, point] of clicks.entries()) {
    await p.waitForTimeout(500);
    // HistomicsUI re-arms the tool 50 ms after a submit; choose it again when it is not armed
    const armed = await pointTool.evaluate((el) => el.classList.contains('active'));
    if (!armed) {
      await keypoints.locator('.dropdown-toggle').click();
      await pointTool.click();
    }
    const where = await displayPoint(p, point);
    await submitAndShoot(p, input, index, point.name, annotationRequests,
      () => p.mouse.click(where.x, where.y), { armed });
  }
}

(async () => {
  config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  page = await context.newPage();
  const errors = errorsSeen;
  const annotationRequests = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  page.on('request', (request) => { if (process.env.UI_DEBUG) console.error(request.method(), request.url()); });
  page.on('request', (request) => {
    if (/\/api\/v1\/annotation\/[0-9a-f]{24}/.test(request.url())) {
      annotationRequests.push(request.url());
    }
  });
  // when each annotation HistomicsUI fetched had arrived (seconds since the epoch), for timing
  page.on('requestfinished', (request) => {
    if (/\/api\/v1\/annotation\/[0-9a-f]{24}\?/.test(request.url())) {
      annotationsLoaded.push({ url: request.url(), at: Date.now() / 1000 });
    }
  });
  // log in through the header's dialog, as a user does, then open the slide
  await page.goto(config.url.split('#')[0], { waitUntil: 'networkidle', timeout: 120000 });
  await page.click('a.g-login');
  await page.fill('#g-login', config.login);
  await page.fill('#g-password', config.password);
  await page.click('#g-login-button');
  await page.waitForSelector('.h-user-dropdown-link, .g-user-dropdown-link, a.g-logout',
    { state: 'attached', timeout: 60000 });
  await page.goto(config.url, { waitUntil: 'networkidle', timeout: 120000 });
  await page.reload({ waitUntil: 'networkidle', timeout: 120000 });
  await page.waitForSelector('.geojs-map', { timeout: 60000 });
  await page.waitForSelector('.h-analyses-dropdown-link', { timeout: 60000 });

  const panel = page.locator('#h-analysis-panel');
  if (config.panels) {
    for (const cli of config.panels) {
      emit(await openPanel(page, panel, cli, `_${cli}`));
    }
  }
  // one run per panel: config.runs, or the single one the top-level keys describe
  const runs = config.runs || (config.panels ? [] : [
    { cli: config.cli, fill: config.fill, clicks: config.clicks, name: 'text' }]);
  for (const [at, run] of runs.entries()) {
    emit(await openPanel(page, panel, run.cli, at ? `_${run.cli}` : ''));
    if (run.fill) {
      await fillPanel(panel, run.fill);
      await panel.screenshot({ path: `${config.shots}/analyses_${run.name}_panel.png` });
    }
    if (run.folder) {
      await pickFolder(page, panel, run.folder.param, run.folder.path);
    }
    if (run.clicks) {
      await clickPoints(page, panel, input, run.clicks, annotationRequests);
    } else if (run.fill || run.submit) {
      // press Submit, as a user does once the panel is filled in
      await submitAndShoot(page, input, 0, run.name, annotationRequests,
        () => panel.locator('.s-info-panel-submit').click());
    }
  }
  await browser.close();
  emit({ event: 'done', errors });
})().catch(async (error) => {
  console.error(error);
  console.error(JSON.stringify(errorsSeen));
  if (page && process.env.UI_DEBUG) {
    console.error(await page.evaluate(() => JSON.stringify({
      submit: [...document.querySelectorAll('#h-analysis-panel .s-select-region-submit-button')].map((e) => e.className),
      alerts: [...document.querySelectorAll('#h-analysis-panel .alert, .g-alert, .s-error')].map((e) => e.textContent),
    })).catch((e) => String(e)));
  }
  if (page) {
    await page.screenshot({ path: `${config.shots}/analyses_failed.png` }).catch(() => null);
  }
  process.exit(1);
});
