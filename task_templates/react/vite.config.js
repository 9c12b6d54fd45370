import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// base "./": the built page loads its assets by relative links, wherever the router serves it.
export default defineConfig({
  base: "./",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true },
});
