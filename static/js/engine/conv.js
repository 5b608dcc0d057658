// Conv2D, DepthwiseConv2D and SeparableConv2D (kind "conv"), as Keras computes them: kernels laid
// out [kh, kw, in, out] as Keras stores them, strides, dilation, "valid" or "same" padding, groups,
// then the bias and the activation.

import { activate } from "./activations.js";
import { padBefore, zeros } from "./tensor.js";

// The window of output (oy, ox) starts at input row oy * strideY - top (likewise columns).
function geometry(layer, input, kh, kw) {
  const [height, width] = input.shape;
  const [outHeight, outWidth] = layer.output_shape;
  const [strideY, strideX] = layer.config.strides;
  const [dilationY, dilationX] = layer.config.dilation_rate;
  const top = padBefore(layer.config.padding, height, outHeight, strideY, (kh - 1) * dilationY + 1);
  const left = padBefore(layer.config.padding, width, outWidth, strideX, (kw - 1) * dilationX + 1);
  return { height, width, outHeight, outWidth, strideY, strideX, dilationY, dilationX, top, left };
}

// Every output position sums its window: for each input pixel of the window and each input
// channel, add value x kernel row to its group's output channels at once (the kernel's last axis
// is the output channel, so the innermost loop reads it in order). Zero inputs (most of a
// drawing, and after every ReLU) are skipped: they add nothing. Only output channels `from` and
// up are computed, into `output`: the eight-at-a-time loop below leaves its remainder here.
function convolve(layer, input, kernel, bias, from = 0, output = null) {
  const [kh, kw, groupIn, outChannels] = layer.weightShapes.kernel;
  const g = geometry(layer, input, kh, kw);
  const { height, width, strideY, strideX, dilationY, dilationX, top, left } = g;
  const inChannels = input.shape[2];
  const groupOut = outChannels / (layer.config.groups || 1);
  output = output || zeros([g.outHeight, g.outWidth, outChannels]);
  const sums = new Float64Array(outChannels);
  const x = input.data;
  for (let oy = 0; oy < g.outHeight; oy++) {
    for (let ox = 0; ox < g.outWidth; ox++) {
      for (let o = from; o < outChannels; o++) sums[o] = bias ? bias[o] : 0;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * strideY - top + ky * dilationY;
        if (iy < 0 || iy >= height) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * strideX - left + kx * dilationX;
          if (ix < 0 || ix >= width) continue;
          const pixel = (iy * width + ix) * inChannels;
          const tap = (ky * kw + kx) * groupIn;
          for (let c = 0; c < inChannels; c++) {
            const value = x[pixel + c];
            if (value === 0) continue;
            const group = Math.floor(c / groupIn); // input channel c feeds only its group's outputs
            const row = (tap + (c - group * groupIn)) * outChannels;
            const end = (group + 1) * groupOut;
            for (let o = Math.max(group * groupOut, from); o < end; o++) sums[o] += value * kernel[row + o];
          }
        }
      }
      output.data.set(sums.subarray(from), (oy * g.outWidth + ox) * outChannels + from);
    }
  }
  return output;
}

// The kernel's weights for eight output channels at a time, in the order the loop below reads
// them: block b, then ky, kx, input channel, then its eight outputs side by side. Packed once per
// model, so the hot loop reads memory in order (Keras's [kh, kw, in, out] layout would have it
// jump a whole row of output channels for every product).
function packByEights(kernel, [kh, kw, inChannels, outChannels]) {
  const blocks = Math.floor(outChannels / 8);
  const packed = new Float32Array(blocks * kh * kw * inChannels * 8);
  for (let b = 0, at = 0; b < blocks; b++) {
    for (let tap = 0; tap < kh * kw; tap++) {
      for (let c = 0; c < inChannels; c++) {
        for (let j = 0; j < 8; j++, at++) packed[at] = kernel[(tap * inChannels + c) * outChannels + b * 8 + j];
      }
    }
  }
  return packed;
}

// Each input pixel's nonzero channels, in channel order: after a ReLU, and on a drawing's
// background, most inputs are 0 and add nothing, so the hot loop visits only the others (and
// never guesses at a branch). Written into `into`, kept between drawings.
function nonzeros(input, into) {
  const [height, width, channels] = input.shape;
  const x = input.data;
  for (let p = 0; p < height * width; p++) {
    let n = p * channels;
    for (let c = 0; c < channels; c++) {
      const value = x[p * channels + c];
      if (value === 0) continue;
      into.channel[n] = c;
      into.value[n] = value;
      n++;
    }
    into.count[p] = n - p * channels;
  }
  return into;
}

// The same sums for an ungrouped convolution, eight output channels at a time kept in local
// variables (registers) while the window's nonzero inputs are read: each product then costs one
// weight read and an add. This is the page's hot loop (the course convnet's conv2 is 2.2 M of its
// 2.8 M multiply-adds). Each sum adds the same products in the same order as the loop above, so
// the two agree to the last bit; the remainder of the output channels, when not a multiple of
// eight, takes the loop above.
function convolveByEights(layer, input, { kernel, bias }, packed, scratch) {
  const [kh, kw, inChannels, outChannels] = layer.weightShapes.kernel;
  const { height, width, outHeight, outWidth, strideY, strideX, dilationY, dilationX, top, left } = geometry(layer, input, kh, kw);
  const output = zeros([outHeight, outWidth, outChannels]);
  const out = output.data;
  const { count, channel, value } = nonzeros(input, scratch);
  const blocks = Math.floor(outChannels / 8);
  for (let b = 0; b < blocks; b++) {
    const o = b * 8; // this block's first output channel
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * strideY - top + ky * dilationY;
          if (iy < 0 || iy >= height) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * strideX - left + kx * dilationX;
            if (ix < 0 || ix >= width) continue;
            const pixel = iy * width + ix;
            const weightsOfTap = ((b * kh + ky) * kw + kx) * inChannels * 8;
            for (let k = pixel * inChannels, end = k + count[pixel]; k < end; k++) {
              const v = value[k];
              const row = weightsOfTap + channel[k] * 8;
              s0 += v * packed[row];
              s1 += v * packed[row + 1];
              s2 += v * packed[row + 2];
              s3 += v * packed[row + 3];
              s4 += v * packed[row + 4];
              s5 += v * packed[row + 5];
              s6 += v * packed[row + 6];
              s7 += v * packed[row + 7];
            }
          }
        }
        if (bias) {
          s0 += bias[o]; s1 += bias[o + 1]; s2 += bias[o + 2]; s3 += bias[o + 3];
          s4 += bias[o + 4]; s5 += bias[o + 5]; s6 += bias[o + 6]; s7 += bias[o + 7];
        }
        const at = (oy * outWidth + ox) * outChannels + o;
        out[at] = s0; out[at + 1] = s1; out[at + 2] = s2; out[at + 3] = s3;
        out[at + 4] = s4; out[at + 5] = s5; out[at + 6] = s6; out[at + 7] = s7;
      }
    }
  }
  if (blocks * 8 < outChannels) convolve(layer, input, kernel, bias, blocks * 8, output);
  return output;
}

// Each input channel c has its own `multiplier` filters; output channel c * multiplier + m.
function depthwise(layer, input, kernel, bias) {
  const [kh, kw, inChannels, multiplier] = layer.weightShapes[layer.class_name === "DepthwiseConv2D" ? "kernel" : "depthwise_kernel"];
  const g = geometry(layer, input, kh, kw);
  const outChannels = inChannels * multiplier;
  const output = zeros([g.outHeight, g.outWidth, outChannels]);
  const x = input.data;
  for (let oy = 0; oy < g.outHeight; oy++) {
    for (let ox = 0; ox < g.outWidth; ox++) {
      const out = (oy * g.outWidth + ox) * outChannels;
      for (let c = 0; c < inChannels; c++) {
        for (let m = 0; m < multiplier; m++) {
          let sum = bias ? bias[c * multiplier + m] : 0;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * g.strideY - g.top + ky * g.dilationY;
            if (iy < 0 || iy >= g.height) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * g.strideX - g.left + kx * g.dilationX;
              if (ix < 0 || ix >= g.width) continue;
              sum += x[(iy * g.width + ix) * inChannels + c] * kernel[((ky * kw + kx) * inChannels + c) * multiplier + m];
            }
          }
          output.data[out + c * multiplier + m] = sum;
        }
      }
    }
  }
  return output;
}

// A 1x1 convolution: every position's channels times the [in, out] matrix (SeparableConv2D's second half).
function pointwise(input, kernel, bias, outChannels) {
  const [height, width, inChannels] = input.shape;
  const output = zeros([height, width, outChannels]);
  const sums = new Float64Array(outChannels);
  for (let p = 0; p < height * width; p++) {
    if (bias) for (let o = 0; o < outChannels; o++) sums[o] = bias[o];
    else sums.fill(0);
    for (let c = 0; c < inChannels; c++) {
      const value = input.data[p * inChannels + c];
      if (value === 0) continue;
      const row = c * outChannels;
      for (let o = 0; o < outChannels; o++) sums[o] += value * kernel[row + o];
    }
    output.data.set(sums, p * outChannels);
  }
  return output;
}

export function make(layer, weights) {
  const { activation } = layer.config;
  if (layer.class_name === "Conv2D") {
    const shape = layer.weightShapes.kernel;
    if ((layer.config.groups || 1) !== 1 || shape[3] < 8) return ([input]) => activate(convolve(layer, input, weights.kernel, weights.bias), activation);
    const packed = packByEights(weights.kernel, shape);
    let scratch = null; // the nonzero lists' room, made on the first drawing and kept
    return ([input]) => {
      const size = input.data.length;
      if (!scratch || scratch.value.length !== size) {
        scratch = { count: new Int32Array(size / input.shape[2]), channel: new Int32Array(size), value: new Float64Array(size) };
      }
      return activate(convolveByEights(layer, input, weights, packed, scratch), activation);
    };
  }
  if (layer.class_name === "DepthwiseConv2D") return ([input]) => activate(depthwise(layer, input, weights.kernel, weights.bias), activation);
  // SeparableConv2D: the depthwise step without bias, then the pointwise step with it
  const outChannels = layer.output_shape[2];
  return ([input]) => activate(pointwise(depthwise(layer, input, weights.depthwise_kernel, null), weights.pointwise_kernel, weights.bias, outChannels), activation);
}
