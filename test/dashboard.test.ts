/**
 * The dashboard in a real headless Chromium against the whole platform (PostgreSQL, Redis, RabbitMQ and
 * the Socket.IO relay): register and sign in through the page, add a device and read its token from the
 * once-only dialog, open it, send telemetry as the device, and see the value arrive live; then its forecast.
 * Screenshots in test-output/dashboard.png and test-output/dashboard-forecast.png.
 *
 * The steps share one page and run in order. Every wait is bounded (uvu has no timeouts).
 */
import { mkdir } from 'node:fs/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { goodPassword, randomEmail, startPlatform, type TestPlatform } from './support/platform.ts';
import { chromiumMissing, launchChromium, within } from './support/browser.ts';
import { ids, testIds } from '../dashboard/src/ids.ts';

const waitMs = 15_000;
const ctx: { platform?: TestPlatform; browser?: Browser; page?: Page; token?: string; deviceId?: string; pageErrors: string[] } = { pageErrors: [] };
const page = () => ctx.page!;
const email = randomEmail('dashboard');
const $ = (id: string) => `#${id}`;

const dashboard = suite('dashboard');
const missing = chromiumMissing();

if (missing) {
  console.log(`dashboard: skipped, ${missing}`);
  dashboard.skip('the dashboard in headless Chromium');
} else {
  dashboard.before(async () => {
    ctx.platform = await within(60_000, 'starting the platform', startPlatform());
    ctx.browser = await launchChromium();
    const context = await ctx.browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', colorScheme: 'light' });
    ctx.page = await context.newPage();
    ctx.page.setDefaultTimeout(waitMs);
    ctx.page.setDefaultNavigationTimeout(waitMs);
    ctx.page.on('pageerror', (error) => ctx.pageErrors.push(error.message));
  });

  dashboard.after(async () => {
    await within(15_000, 'closing the browser', ctx.browser?.close() ?? Promise.resolve()).catch((error: unknown) => console.error(error));
    await within(30_000, 'stopping the platform', ctx.platform?.close() ?? Promise.resolve()).catch((error: unknown) => console.error(error));
  });

  dashboard('/ serves the page, and a signed-out visitor gets the sign-in form', async () => {
    const response = await page().goto(`${ctx.platform!.url}/`);
    assert.is(response?.status(), 200, 'GET / answers the dashboard');
    await page().waitForSelector($(ids.loginForm));
    assert.ok(await page().isHidden($(ids.header)), 'no app header before signing in');
  });

  dashboard('registering shows the API\'s field errors, then succeeds', async () => {
    await page().click($(ids.goRegister));
    await page().fill($(ids.registerEmail), email);
    await page().fill($(ids.registerPassword), 'short');
    await page().click($(ids.registerSubmit));
    const fieldError = await page().waitForSelector(`${$(ids.registerPassword)}-error:visible`);
    assert.ok((await fieldError.textContent())?.trim(), 'the password error sits under the field');
    assert.is(await page().getAttribute($(ids.registerPassword), 'aria-invalid'), 'true');

    await page().fill($(ids.registerPassword), goodPassword);
    await page().fill($(ids.registerName), 'Dana Board');
    await page().click($(ids.registerSubmit));
    await page().waitForSelector($(ids.authNotice));
    assert.is(await page().inputValue($(ids.loginEmail)), email, 'the sign-in form starts with the new email');
  });

  dashboard('signing in opens the empty device list', async () => {
    await page().fill($(ids.loginPassword), goodPassword);
    await page().click($(ids.loginSubmit));
    await page().waitForSelector($(ids.devicesEmpty));
    assert.is((await page().textContent($(ids.userEmail)))?.trim(), email);
    await page().waitForSelector(`${$(ids.connectionState)}[data-state="connected"]`);
  });

  dashboard('adding a device shows its token once, with a curl line that uses it', async () => {
    await page().click($(ids.addDeviceButton));
    await page().fill($(ids.deviceFormName), 'Greenhouse sensor');
    await page().fill($(ids.deviceFormType), 'thermometer');
    await page().fill($(ids.deviceFormTags), 'greenhouse, north');
    await page().click($(ids.deviceFormSubmit));
    await page().waitForSelector(`${$(ids.tokenDialog)}[open]`);
    const token = (await page().textContent($(ids.deviceToken)))?.trim() ?? '';
    assert.match(token, /^dt_[A-Za-z0-9_-]{20,}$/);
    const curl = (await page().textContent($(ids.tokenCurl))) ?? '';
    assert.ok(curl.includes(`${ctx.platform!.url}/telemetry`) && curl.includes(`authorization: Device ${token}`), curl);
    ctx.token = token;

    await page().click($(ids.tokenDialogClose));
    await page().waitForSelector($(ids.tokenDialog), { state: 'detached' });
    const row = await page().waitForSelector(`[data-testid="${testIds.deviceRow}"]`);
    ctx.deviceId = (await row.getAttribute('data-device-id')) ?? undefined;
    assert.ok(ctx.deviceId);
    assert.is(await row.$eval(`[data-testid="${testIds.onlineBadge}"]`, (badge) => badge.getAttribute('data-online')), 'false');
  });

  dashboard('the device page shows telemetry sent by the device live', async () => {
    await page().click(`[data-testid="${testIds.deviceLink}"]`);
    await page().waitForSelector(`${$(ids.deviceView)}[data-live="on"]`);
    await page().waitForSelector($(ids.latestEmpty));
    assert.is((await page().textContent($(ids.deviceTitle)))?.trim(), 'Greenhouse sensor');

    const sent = await fetch(`${ctx.platform!.url}/telemetry`, {
      method: 'POST',
      headers: { authorization: `Device ${ctx.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ values: { temperature: 23.5 } }),
      signal: AbortSignal.timeout(waitMs),
    });
    assert.is(sent.status, 202, await sent.text());

    const value = page().locator(`[data-testid="${testIds.latestValue}"][data-key="temperature"]`);
    await value.filter({ hasText: '23.5' }).waitFor();
    await page().waitForSelector(`${$(ids.liveChart)}[data-points="1"] canvas`);
    await page().waitForSelector(`${$(ids.deviceView)} [data-testid="${testIds.onlineBadge}"][data-online="true"]`);

    await mkdir('test-output', { recursive: true });
    await page().screenshot({ path: 'test-output/dashboard.png', fullPage: true });
  });

  dashboard('the Forecast card shows a forecast of the one point, or says why there is none', async () => {
    await page().waitForSelector($(ids.forecastCard));
    assert.is(await page().inputValue($(ids.forecastKey)), 'temperature', 'the key picker starts on temperature');
    const card = await page().waitForSelector(`${$(ids.forecastCard)}:is([data-state="ready"], [data-state="empty"])`);
    if ((await card.getAttribute('data-state')) === 'ready') {
      await page().waitForSelector(`${$(ids.forecastChart)} canvas`);
      assert.match((await page().textContent($(ids.forecastModel))) ?? '', /Model \S+/);
    } else {
      const detail = (await page().textContent(`${$(ids.forecastEmpty)} .muted`))?.trim() ?? '';
      assert.ok(detail.length > 0, 'the empty state carries the problem detail');
    }
    assert.not.ok(await page().$($(ids.forecastError)), 'no error shown');
    assert.equal(ctx.pageErrors, []);
  });

  dashboard('with three days of hourly history the Forecast card charts a forecast and its band', async () => {
    const hour = 3_600_000;
    const current = Math.floor(Date.now() / hour) * hour;
    const points = Array.from({ length: 72 }, (_, i) => {
      const ts = current - (72 - i) * hour + hour / 2;
      return { ts, values: { temperature: Math.round((21 + 3 * Math.sin((2 * Math.PI * ts) / (24 * hour)) + 0.3 * Math.sin(i * 7.3)) * 100) / 100 } };
    });
    const sent = await fetch(`${ctx.platform!.url}/telemetry`, {
      method: 'POST',
      headers: { authorization: `Device ${ctx.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(points),
      signal: AbortSignal.timeout(waitMs),
    });
    assert.is(sent.status, 202, await sent.text());
    // The points are stored asynchronously: ask again (by changing the horizon) until the seasonal model fits.
    const deadline = Date.now() + waitMs;
    let model = '';
    for (let i = 0; !model.includes('holt-winters') && Date.now() < deadline; i++) {
      await page().selectOption($(ids.forecastHorizon), i % 2 ? '24h' : '48h');
      await page().waitForSelector(`${$(ids.forecastCard)}:not([data-state="loading"])`);
      model = (await page().$($(ids.forecastModel))) ? ((await page().textContent($(ids.forecastModel))) ?? '') : '';
      if (!model.includes('holt-winters')) await page().waitForTimeout(500);
    }
    assert.match(model, /holt-winters/);
    await page().waitForSelector(`${$(ids.forecastChart)} canvas`);
    await page().evaluate(() => window.scrollTo(0, 0));
    await page().screenshot({ path: 'test-output/dashboard-forecast.png', fullPage: true });
  });

  dashboard('a rule added in the Alerts card opens an alert live, and it can be acknowledged', async () => {
    await page().fill($(ids.ruleKey), 'humidity');
    await page().selectOption($(ids.ruleOp), 'gt');
    await page().fill($(ids.ruleValue), '50');
    await page().click($(ids.ruleSubmit));
    await page().waitForSelector(`${$(ids.ruleError)}[hidden]`, { state: 'attached' });
    await page().waitForFunction((id) => (document.querySelector(`#${id}`) as HTMLInputElement | null)?.value === '', ids.ruleKey);

    const sent = await fetch(`${ctx.platform!.url}/telemetry`, {
      method: 'POST',
      headers: { authorization: `Device ${ctx.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ values: { humidity: 61 } }),
      signal: AbortSignal.timeout(waitMs),
    });
    assert.is(sent.status, 202, await sent.text());
    await page().waitForSelector(`[data-testid="${testIds.alertRow}"][data-state="open"]`);
    await page().click(`[data-testid="${testIds.alertAck}"]`);
    await page().locator(`[data-testid="${testIds.alertRow}"]`).filter({ hasText: 'Acknowledged' }).waitFor();
  });

  dashboard('the page threw no errors', () => {
    assert.equal(ctx.pageErrors, []);
  });
}

dashboard.run();
