// Open a HistomicsUI page in headless chromium, wait for the annotations to draw, and save a
// screenshot.  Prints one JSON line: {"annotationRequests": [...], "errors": [...]}.
// "Drawn" is when the page has settled (settle.js) after the network is idle and 3 s more.
//   node screenshot.js URL OUT.png
const { chromium } = require('playwright-core');
const { settle } = require('./settle');

(async () => {
  const [url, out] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const annotationRequests = [];
  const errors = [];
  page.on('request', (request) => {
    if (/\/api\/v1\/annotation\/[0-9a-f]{24}/.test(request.url())) {
      annotationRequests.push(request.url());
    }
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(url, { waitUntil: 'networkidle', timeout: 120000 });
  await page.waitForTimeout(3000);
  await settle(page);
  await page.screenshot({ path: out });
  await browser.close();
  console.log(JSON.stringify({ annotationRequests, errors }));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
