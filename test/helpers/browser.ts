/**
 * Real Chromium (Debian's, /usr/bin/chromium) through playwright-core, with CDP's virtual
 * authenticator standing in for a security key.
 */
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.TAPGATE_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/** A fresh context (own cookies, own authenticators) that accepts the gate's self-signed TLS. */
export async function newGatePage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 720, height: 640 } });
  const page = await context.newPage();
  return { context, page };
}

export interface AuthenticatorOptions {
  hasUserVerification?: boolean;
  isUserVerified?: boolean;
  hasResidentKey?: boolean;
}

export interface VirtualAuthenticator {
  authenticatorId: string;
  cdp: CDPSession;
}

/** A USB CTAP2 key with a PIN set (UV) that is touched automatically. */
export async function addVirtualAuthenticator(page: Page, opts: AuthenticatorOptions = {}): Promise<VirtualAuthenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'usb',
      hasResidentKey: opts.hasResidentKey ?? true,
      hasUserVerification: opts.hasUserVerification ?? true,
      isUserVerified: opts.isUserVerified ?? true,
      automaticPresenceSimulation: true,
    },
  });
  return { authenticatorId, cdp };
}

/** The credentials an authenticator holds (with private keys and sign counts). */
export async function authenticatorCredentials(a: VirtualAuthenticator) {
  return (await a.cdp.send('WebAuthn.getCredentials', { authenticatorId: a.authenticatorId })).credentials;
}
