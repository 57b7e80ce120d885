// Entry point: works out how this page may watch (a wall-display link or a person's account),
// then mounts the app, which starts the live feed once someone may watch.
import { mount, unmount } from 'svelte';
import App from './App.svelte';
import { LiveFeed } from './lib/live.svelte';
import { Session, accessFrom, liveUrl } from './lib/session.svelte';
import { routeOf } from './lib/route';
import './app.css';

const target = document.getElementById('app');
if (!target) throw new Error('Pulse: #app element missing from index.html');

const access = accessFrom(location.search);
const session = access.kind === 'account' ? new Session() : null;
const url = liveUrl(location, access);
// A refused WebSocket looks like a dead server; asking /api/auth/me tells the two apart.
const openFeed = () => new LiveFeed({ url, onAttemptFailed: () => void session?.recheck() });

const app = mount(App, { target, props: { session, openFeed, route: routeOf(location.pathname) } });
void session?.load();

// In development a hot reload must not leave the previous connection and its timer running.
import.meta.hot?.dispose(() => void unmount(app));
