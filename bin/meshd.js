#!/usr/bin/env node
// Installed entry point: runs the compiled CLI (npm run build). In a checkout, `npx tsx src/cli/main.ts` works without building.
import '../dist/cli/main.js';
