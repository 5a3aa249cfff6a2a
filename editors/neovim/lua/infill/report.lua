-- Text for the answers of infill's own requests, as `infill complete --explain` prints them.

local M = {}

local function sorted_keys(map)
  local keys = vim.tbl_keys(map)
  table.sort(keys)
  return keys
end

--- Lines for an `infill/explain` report.
function M.explanation(report)
  local lines = {
    ('template: %s    mode: %s'):format(report.template, report.mode),
  }
  local tokens = {}
  for _, name in ipairs(sorted_keys(report.tokens or {})) do
    tokens[#tokens + 1] = ('%s %s'):format(name, report.tokens[name])
  end
  lines[#lines + 1] = 'tokens:   ' .. table.concat(tokens, '  ')
  local timings = {}
  for _, stage in ipairs(sorted_keys(report.timingsMs or {})) do
    timings[#timings + 1] = ('%s %.2f'):format(stage, report.timingsMs[stage])
  end
  lines[#lines + 1] = 'time ms:  ' .. table.concat(timings, '  ')
  local skipped = report.skippedSources or {}
  if #skipped > 0 then
    lines[#lines + 1] = 'left out for lack of time: ' .. table.concat(skipped, ', ')
  end
  local snippets = report.snippets or {}
  lines[#lines + 1] = ('snippets (%d):'):format(#snippets)
  for _, snippet in ipairs(snippets) do
    lines[#lines + 1] = ('  %s %.4f  %-12s %s:%d-%d'):format(
      snippet.included and '+' or '-',
      snippet.score,
      snippet.source,
      snippet.path,
      snippet.startLine + 1,
      snippet.endLine + 1
    )
  end
  lines[#lines + 1] = 'prompt:'
  vim.list_extend(lines, vim.split(report.prompt or '', '\n', { plain = true }))
  return lines
end

return M
