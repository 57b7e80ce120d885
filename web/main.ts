// Entry point: opens the one live feed and mounts the dashboard with it.
import { mount } from 'svelte';
import App from './App.svelte';
import { LiveFeed } from './lib/live.svelte';
import './app.css';

const target = document.getElementById('app');
if (!target) throw new Error('Pulse: #app element missing from index.html');

const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
const live = new LiveFeed({ url: `${scheme}://${location.host}/ws` });
live.start();

mount(App, { target, props: { live } });

// In development a hot reload must not leave the previous connection and its timer running.
import.meta.hot?.dispose(() => live.close());
