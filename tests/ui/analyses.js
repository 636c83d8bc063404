// Drive HistomicsUI's Analyses menu in headless chromium as a logged-in pathologist:
//   node analyses.js CONFIG.json
// CONFIG: {url, token, image, cli, shots, clicks: [{x, y, name}]} (x, y in base-image pixels).
// Opens the slide, picks Analyses -> image -> tag -> cli, reads the panel, screenshots it, presses
// the key-point button and clicks each point on the viewer; HistomicsUI submits on each click
// (the region's "submiton"). Talks JSON lines on stdout; after each submit it waits for one line on
// stdin (the test runs the job meanwhile), then screenshots the result.
const fs = require('fs');
const readline = require('readline');
const { chromium } = require('playwright-core');

const emit = (event) => console.log(JSON.stringify(event));

(async () => {
  const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const origin = new URL(config.url).origin;
  await context.addCookies([{ name: 'girderToken', value: config.token, url: origin }]);
  const page = await context.newPage();
  const errors = [];
  const annotationRequests = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('request', (request) => {
    if (/\/api\/v1\/annotation\/[0-9a-f]{24}/.test(request.url())) {
      annotationRequests.push(request.url());
    }
  });
  await page.goto(config.url, { waitUntil: 'networkidle', timeout: 120000 });
  await page.waitForSelector('.geojs-map', { timeout: 60000 });
  const user = await page.textContent('.h-user-dropdown-link, .g-user-dropdown-link, #g-app-header-container').catch(() => '');

  // Analyses -> image -> tag -> CLI, hovering through the sub-menus as a mouse does
  await page.click('.h-analyses-dropdown-link');
  await page.hover(`.h-analyses-dropdown a[data-name="${config.image}"]`);
  const item = page.locator(`a.h-analysis-item[data-image="${config.image}"][data-cli="${config.cli}"]`);
  await page.hover(`.h-analyses-dropdown a[data-name="${config.image}"] + ul > li > a`);
  await item.click();
  const panel = page.locator('#h-analysis-panel');
  await panel.locator('.s-panel').first().waitFor({ timeout: 60000 });
  // HistomicsUI fills the image parameters once the file model arrives
  await page.waitForFunction(() => {
    const el = document.querySelector('#h-analysis-panel #inputImageId');
    return el && el.value;
  }, null, { timeout: 60000 });
  await page.waitForTimeout(1000);
  const groups = await panel.locator('.s-panel .s-panel-title, .s-panel .panel-title').allTextContents();
  const values = await panel.evaluate((node) => {
    const out = {};
    node.querySelectorAll('input[id], select[id]').forEach((el) => { out[el.id] = el.value; });
    return out;
  });
  const title = (await panel.locator('.s-panel-title, h3, h4').first().textContent().catch(() => '')) || '';
  await page.screenshot({ path: `${config.shots}/analyses_page.png` });
  await panel.screenshot({ path: `${config.shots}/analyses_panel.png` });
  emit({ event: 'panel', groups: groups.map((g) => g.trim()), values, title: title.trim(), user });

  await panel.locator('.s-select-region-button[parent-id="keypoints"][shape="point"]').first().click();
  for (const [index, point] of config.clicks.entries()) {
    await page.waitForTimeout(500);
    const where = await page.evaluate(({ x, y }) => {
      const node = document.querySelector('.geojs-map');
      const map = window.$(node).data('data-geojs-map');
      const display = map.gcsToDisplay({ x, y });
      const box = node.getBoundingClientRect();
      return { x: box.left + display.x, y: box.top + display.y };
    }, point);
    const submitted = page.waitForResponse(
      (response) => /\/slicer_cli_web\/.*\/run$/.test(response.url().split('?')[0]) &&
        response.request().method() === 'POST', { timeout: 60000 });
    await page.mouse.click(where.x, where.y);
    const response = await submitted;
    const params = Object.fromEntries(new URLSearchParams(response.request().postData() || ''));
    const job = await response.json();
    emit({ event: 'submitted', index, name: point.name, params, job, status: response.status() });
    await input.next(); // the test has run the job
    await page.waitForTimeout(config.settleMs || 8000);
    await page.screenshot({ path: `${config.shots}/analyses_${point.name}.png` });
    emit({ event: 'shot', index, name: point.name, annotationRequests: [...annotationRequests] });
  }
  await browser.close();
  emit({ event: 'done', errors });
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
