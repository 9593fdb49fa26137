// The portal's one script, served from the binary. It does two things a
// page cannot do without one: send a large file with a progress bar, and
// check an audit entry's inclusion proof with the browser's own SHA-256.
"use strict";

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function unhex(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

async function sha256(...parts) {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
}

// RFC 9162, 2.1.3.2: from the leaf up to the root of a tree of tree_size.
async function rootFromProof(index, treeSize, leaf, proof) {
  let fn = index, sn = treeSize - 1, r = leaf;
  for (const p of proof) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(Uint8Array.of(1), p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await sha256(Uint8Array.of(1), r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

async function checkProof(box) {
  const out = box.querySelector("[data-result]");
  try {
    const canonical = new TextEncoder().encode(document.getElementById("canonical").textContent);
    const leaf = await sha256(Uint8Array.of(0), canonical);
    const proof = box.dataset.proof.split(" ").filter((p) => p).map(unhex);
    const root = await rootFromProof(Number(box.dataset.index), Number(box.dataset.treeSize), leaf, proof);
    const ok = hex(leaf) === box.dataset.leaf && root !== null && hex(root) === box.dataset.root;
    out.textContent = ok ? box.dataset.verified : box.dataset.failed;
    out.className = ok ? "verified" : "failed";
    box.dataset.outcome = ok ? "verified" : "failed";
  } catch (e) {
    out.textContent = box.dataset.failed + " (" + e + ")";
    box.dataset.outcome = "failed";
  }
}

function upload(form) {
  const input = form.querySelector("input[type=file]");
  const bar = form.querySelector("progress");
  const status = form.querySelector("[data-status]");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) return;
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    bar.hidden = false;
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
    xhr.onload = () => {
      if (xhr.status === 201) {
        status.textContent = form.dataset.done;
        window.location.reload();
      } else {
        let detail = xhr.statusText;
        try { detail = JSON.parse(xhr.responseText).detail || detail; } catch (_) { /* not JSON */ }
        status.textContent = form.dataset.failed + " " + detail;
      }
    };
    xhr.onerror = () => { status.textContent = form.dataset.failed; };
    xhr.send(file);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-upload]").forEach(upload);
  document.querySelectorAll("[data-proof]").forEach(checkProof);
});
