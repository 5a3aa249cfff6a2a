-- Next edits: after a change and a short pause, ask the server (`infill/nextEdit`) for the edit
-- the change implies elsewhere (the other uses of a renamed name), draw it where it would go —
-- the old text highlighted, the new text beside it — and apply it, in one undo step, with a
-- key. Any other edit, or <Esc>, dismisses it. The server never changes the buffer itself.

local M = {}

local api = vim.api
local ghost = require('infill.ghost')
local namespace = api.nvim_create_namespace('infill.next_edit')

M.namespace = namespace

---@class infill.NextEdit
---@field id integer the server's id of the proposal, for the notifications
---@field client_id integer
---@field tick integer the buffer's changedtick it was proposed for
---@field edit table the LSP TextEdit (range, newText)
---@field cursor table? the LSP position the cursor goes to once applied

---@type table<integer, infill.NextEdit>
local shown = {}
---@type table<integer, integer> per buffer: the latest request's number (older answers are stale)
local generation = {}

-- The replaced text and its replacement; `default`: a colorscheme's own definitions win.
api.nvim_set_hl(0, 'InfillNextEditOld', { default = true, link = 'DiffDelete' })
api.nvim_set_hl(0, 'InfillNextEditNew', { default = true, link = 'DiffAdd' })

local function client_by_id(id)
  return vim.lsp.get_client_by_id(id)
end

local function notify(proposal, method)
  local client = client_by_id(proposal.client_id)
  if client then
    ghost.call(client, 'notify', method, { id = proposal.id })
  end
end

--- The next edit shown in `bufnr`, or nil.
function M.current(bufnr)
  return shown[bufnr or api.nvim_get_current_buf()]
end

local function clear(bufnr)
  shown[bufnr] = nil
  if api.nvim_buf_is_valid(bufnr) then
    api.nvim_buf_clear_namespace(bufnr, namespace, 0, -1)
  end
end

--- Hide the shown next edit (the server counts it rejected). False when none is shown.
function M.dismiss(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local proposal = shown[bufnr]
  if not proposal then
    return false
  end
  clear(bufnr)
  notify(proposal, 'infill/nextEditRejected')
  return true
end

-- A byte column of row `row` for an LSP character in the client's encoding.
local function byte_column(bufnr, row, character, encoding)
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  if vim.fn.has('nvim-0.11') == 1 then
    return vim.str_byteindex(line, encoding, character, false)
  end
  return vim.str_byteindex(line, character, encoding == 'utf-16')
end

local function draw(bufnr, proposal, encoding)
  local range = proposal.edit.range
  local start_row, end_row = range.start.line, range['end'].line
  local start_col = byte_column(bufnr, start_row, range.start.character, encoding)
  local end_col = byte_column(bufnr, end_row, range['end'].character, encoding)
  local new_lines = vim.split(proposal.edit.newText, '\n', { plain = true })
  -- The text the edit replaces, struck through; the new text right after it.
  api.nvim_buf_set_extmark(bufnr, namespace, start_row, start_col, {
    end_row = end_row,
    end_col = end_col,
    hl_group = 'InfillNextEditOld',
  })
  local virt_lines = {}
  for index = 2, #new_lines do
    virt_lines[#virt_lines + 1] = { { new_lines[index], 'InfillNextEditNew' } }
  end
  api.nvim_buf_set_extmark(bufnr, namespace, end_row, end_col, {
    virt_text = { { new_lines[1], 'InfillNextEditNew' } },
    virt_text_pos = 'inline',
    virt_lines = #virt_lines > 0 and virt_lines or nil,
  })
end

local function on_answer(bufnr, client, number, tick)
  return function(err, result)
    if err or generation[bufnr] ~= number or not api.nvim_buf_is_valid(bufnr)
      or api.nvim_buf_get_changedtick(bufnr) ~= tick
      or type(result) ~= 'table' or type(result.edits) ~= 'table' or #result.edits ~= 1 then
      return
    end
    local proposal = {
      id = result.id,
      client_id = client.id,
      tick = tick,
      edit = result.edits[1],
      cursor = result.cursor ~= vim.NIL and result.cursor or nil,
    }
    clear(bufnr)
    shown[bufnr] = proposal
    draw(bufnr, proposal, client.offset_encoding)
    notify(proposal, 'infill/nextEditShown')
  end
end

--- Ask the server for the next edit at the cursor of the current window on `bufnr`.
function M.request(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = 'infill' })[1]
  if not client or api.nvim_get_current_buf() ~= bufnr then
    return
  end
  local number = (generation[bufnr] or 0) + 1
  generation[bufnr] = number
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.textDocument.version = vim.lsp.util.buf_versions[bufnr]
  ghost.call(client, 'request', 'infill/nextEdit', params, on_answer(bufnr, client, number, tick), bufnr)
end

--- Jump to the shown next edit and apply it (one undo step). False when none is shown.
function M.apply(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local proposal = shown[bufnr]
  local client = proposal and client_by_id(proposal.client_id)
  if not client or api.nvim_buf_get_changedtick(bufnr) ~= proposal.tick then
    return false
  end
  clear(bufnr)
  -- Scheduled: the key is an <expr> mapping, where the buffer may not be changed.
  vim.schedule(function()
    if api.nvim_buf_get_changedtick(bufnr) ~= proposal.tick then
      return
    end
    vim.lsp.util.apply_text_edits({ proposal.edit }, bufnr, client.offset_encoding)
    local target = proposal.cursor or proposal.edit.range.start
    local col = byte_column(bufnr, target.line, target.character, client.offset_encoding)
    -- Normal mode rests on a character: the last one of the new text.
    api.nvim_win_set_cursor(0, { target.line + 1, math.max(col - 1, 0) })
    notify(proposal, 'infill/nextEditAccepted')
  end)
  return true
end

--- Follow `bufnr`: ask after each change and a pause of `options.delay` ms (while
--- `is_enabled()`); map the keys.
function M.attach(bufnr, options, is_enabled)
  local group = api.nvim_create_augroup('infill.next_edit.' .. bufnr, { clear = true })
  api.nvim_create_autocmd({ 'TextChanged', 'TextChangedI', 'InsertLeave' }, {
    group = group,
    buffer = bufnr,
    callback = function(event)
      -- Another edit than the one proposed (applying one hides it first).
      if event.event ~= 'InsertLeave' then
        M.dismiss(bufnr)
      end
      local number = (generation[bufnr] or 0) + 1
      generation[bufnr] = number
      vim.defer_fn(function()
        if generation[bufnr] == number and api.nvim_buf_is_valid(bufnr) and is_enabled() then
          M.request(bufnr)
        end
      end, options.delay)
    end,
  })
  api.nvim_create_autocmd('BufWipeout', {
    group = group,
    buffer = bufnr,
    callback = function()
      shown[bufnr], generation[bufnr] = nil, nil
      pcall(api.nvim_del_augroup_by_id, group)
    end,
  })
  -- Normal-mode keys; with no next edit shown they do what they do without infill.
  local actions = { apply = M.apply, dismiss = M.dismiss }
  for name, action in pairs(actions) do
    local lhs = options.keys[name]
    if lhs then
      vim.keymap.set('n', lhs, function()
        return action(bufnr) and '' or lhs
      end, { buffer = bufnr, expr = true, desc = 'infill: next edit, ' .. name })
    end
  end
end

return M
