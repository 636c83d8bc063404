// Wait until a page has drawn what it was loading: until ``ready()`` holds and two screenshots a
// second apart are the same (at most 90 s), so a loaded machine gets the time it needs and a
// quiet one no more. Shared by analyses.js and screenshot.js.
async function settle(page, ready = () => true) {
  let last = null;
  for (let waited = 0; waited < 90000; waited += 1000) {
    const shot = await page.screenshot();
    if (ready() && last && shot.equals(last)) {
      return;
    }
    last = shot;
    await page.waitForTimeout(1000);
  }
}

module.exports = { settle };
