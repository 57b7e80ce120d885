// Sign-in through an OpenID Connect provider (NHS CIS2): the browser is sent to the provider
// and comes back to the callback, where the claims become a Pulse account and a session.
// Local and break-glass sign-in keep working when the provider is down.
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { AppEnv } from '../auth/middleware';
import { setSessionCookie } from '../auth/middleware';
import { mapClaims } from '../auth/claims';
import type { OidcConfig } from '../auth/oidc-config';
import { OidcError, type OidcClient, type PendingSignIn } from '../auth/oidc';
import type { ApiContext } from './context';

const PENDING_COOKIE = 'pulse_oidc';

export function oidcRoutes(ctx: ApiContext, oidc: OidcClient, config: OidcConfig, opts: { sessionTtlMs: number; secureCookies: boolean }) {
  const app = new Hono<AppEnv>();
  const publicRoute = ctx.guard('public');
  const failed = (message: string) => `/?signin_error=${encodeURIComponent(message)}`;

  app.get('/auth/oidc/start', publicRoute, async (c) => {
    try {
      const { url, ...pending } = await oidc.authorizationUrl();
      // Lax, not Strict: the callback is a cross-site navigation from the provider.
      setCookie(c, PENDING_COOKIE, JSON.stringify(pending), {
        httpOnly: true,
        secure: opts.secureCookies,
        sameSite: 'Lax',
        path: '/auth/oidc',
        maxAge: 600,
      });
      return c.redirect(url, 302);
    } catch (err) {
      const message = err instanceof OidcError ? err.message : 'the sign-in service could not be reached';
      ctx.log('warn', 'OIDC sign-in could not start', { error: err instanceof OidcError ? err.code : String(err) });
      return c.redirect(failed(message), 302);
    }
  });

  app.get('/auth/oidc/callback', publicRoute, async (c) => {
    const address = ctx.clientAddress(c);
    const audit = (action: string, subject: string | null, detail: Record<string, unknown>, actor: string) =>
      ctx.accounts.appendAudit({ at: ctx.now(), actor, action, subject, detail: { ...detail, address, via: 'oidc' } });
    const raw = getCookie(c, PENDING_COOKIE);
    deleteCookie(c, PENDING_COOKIE, { path: '/auth/oidc' });
    let pending: PendingSignIn;
    try {
      pending = JSON.parse(raw ?? '') as PendingSignIn;
    } catch {
      return c.redirect(failed('the sign-in took too long or was started elsewhere; please try again'), 302);
    }
    try {
      const claims = await oidc.callback(new URL(c.req.url).searchParams, pending);
      const mapped = mapClaims(claims, config.mapping, ctx.estate);
      if (!mapped.ok) {
        await audit('auth.signin.failed', null, { code: mapped.code }, `oidc:${claims.sub}`);
        return c.redirect(failed(mapped.reason), 302);
      }
      const username = `oidc:${mapped.subject}`;
      const found = await ctx.accounts.userForSignIn(username);
      // Roles change in the identity provider: every sign-in brings Pulse's copy up to date.
      const scope = { role: mapped.role, icb: mapped.icb, practices: mapped.practices, displayName: mapped.displayName };
      let user = found?.user;
      if (user?.disabled) {
        await audit('auth.signin.failed', `user:${username}`, { code: 'disabled' }, username);
        return c.redirect(failed('this account is disabled in Pulse'), 302);
      }
      if (user) {
        const changed = user.role !== scope.role || user.icb !== scope.icb || user.practices.join() !== scope.practices.join();
        user = await ctx.accounts.updateUser(user.id, scope);
        if (changed) await audit('user.role.change', `user:${username}`, { to: scope }, 'oidc');
      } else {
        user = await ctx.accounts.createUser({ username, ...scope, passwordHash: null, source: 'oidc', now: ctx.now() });
        await audit('user.create', `user:${username}`, { ...scope }, 'oidc');
      }
      const { secret } = await ctx.accounts.createSession(user.id, ctx.now(), opts.sessionTtlMs);
      setSessionCookie(c, secret, { ttlMs: opts.sessionTtlMs, secure: opts.secureCookies });
      await audit('auth.signin', `user:${username}`, { grantedBy: mapped.grantedBy, unused: mapped.unused }, username);
      return c.redirect('/', 302);
    } catch (err) {
      if (!(err instanceof OidcError)) throw err;
      ctx.log('warn', 'OIDC sign-in failed', { code: err.code, detail: err.detail });
      await audit('auth.signin.failed', null, { code: err.code }, `anonymous@${address}`);
      return c.redirect(failed(err.message), 302);
    }
  });
  return app;
}
