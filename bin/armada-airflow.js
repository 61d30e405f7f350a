#!/usr/bin/env node
// The installed command: the built CLI (npm install runs `prepare`, which builds dist/).
import { main } from "../dist/cli/main.js";

await main();
